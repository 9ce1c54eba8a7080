"""A meter played by the simulator's model: demos and tests run the whole agent without hardware."""

from __future__ import annotations

from kilowatch.agent.energy import MeterSample
from kilowatch.agent.settings import SimulatedMeterConfig
from kilowatch.agent.sources.base import SourceError
from kilowatch.metermodel.model import SimulatedMeter, default_profile


class SimulatedSource:
    """Reads the simulated meter's registers at the poll's slot time (deterministic)."""

    def __init__(self, plant: str, config: SimulatedMeterConfig, timezone: str) -> None:
        self.meter = config.id
        self.model = SimulatedMeter(
            plant,
            config.id,
            default_profile(config.id, config.kind),
            timezone,
            config.seed,
            config.holidays_country,
        )

    def read(self, ts: int) -> tuple[MeterSample, list[str]]:
        try:
            register = self.model.register_at(ts)
        except ValueError as err:
            raise SourceError(self.meter, f"simulator: {err}") from None
        return (
            MeterSample(
                energy_total_kwh=register.energy_total_kwh,
                reactive_total_kvarh=register.reactive_total_kvarh,
                power_kw=register.power_kw,
                power_factor=register.power_factor,
                voltage_v=register.voltage_v,
                current_a=register.current_a,
            ),
            [],
        )

    def close(self) -> None:
        """Nothing to release."""
