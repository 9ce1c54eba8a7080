"""The simulator's meter model as a source: the registers the model shows at the poll's time."""

from __future__ import annotations

import pytest

from kilowatch.agent.settings import SimulatedMeterConfig
from kilowatch.agent.sources.base import SourceError
from kilowatch.agent.sources.simulated import SimulatedSource
from kilowatch.metermodel.model import EPOCH_TS, SimulatedMeter, default_profile

TS = 1_796_000_100


def test_it_reads_the_model_at_the_slot_time() -> None:
    config = SimulatedMeterConfig(id="press-1", source="simulated", seed=7)
    sample, warnings = SimulatedSource("plant-a", config, "America/Mexico_City").read(TS)
    model = SimulatedMeter(
        "plant-a", "press-1", default_profile("press-1"), "America/Mexico_City", 7
    )
    register = model.register_at(TS)
    assert warnings == []
    assert sample.energy_total_kwh == register.energy_total_kwh
    assert sample.power_factor == register.power_factor
    assert sample.voltage_v == register.voltage_v


def test_the_register_grows_by_the_models_energy() -> None:
    source = SimulatedSource(
        "plant-a", SimulatedMeterConfig(id="hvac-1", source="simulated"), "UTC"
    )
    first, second = source.read(TS)[0], source.read(TS + 300)[0]
    assert second.energy_total_kwh > first.energy_total_kwh


def test_a_time_before_the_model_starts_is_a_source_error() -> None:
    source = SimulatedSource("plant-a", SimulatedMeterConfig(id="m", source="simulated"), "UTC")
    with pytest.raises(SourceError, match="meter m: simulator"):
        source.read(EPOCH_TS - 300)
