"""The meters to simulate: those of the plant file, or a synthetic fleet of plants x meters."""

from __future__ import annotations

import functools
import importlib.resources
import logging

import holidays

from kilowatch.config import ConfigError, KilowatchConfig, load_config
from kilowatch.metermodel.model import SimulatedMeter, nominal_phase_voltage
from kilowatch.metermodel.profiles import METER_KINDS, default_profile, infer_kind
from kilowatch.simulator.settings import AUTO, NONE, SimulatorSettings

logger = logging.getLogger(__name__)


@functools.cache
def _zone_countries() -> dict[str, str]:
    """Timezone -> ISO 3166 country code, from the tz database's zone.tab (package tzdata)."""
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {row[2]: row[0] for row in rows if len(row) >= 3}


def country_of_timezone(timezone: str) -> str | None:
    """The country a timezone belongs to ('America/Mexico_City' -> 'MX'), if it names one."""
    return _zone_countries().get(timezone)


def holidays_country(choice: str, timezone: str) -> str | None:
    """Whose public holidays a plant observes: `choice` (a country code, 'auto' or 'none').

    'auto' takes the country of the plant's timezone.
    """
    if choice == NONE:
        return None
    if choice != AUTO:
        return choice
    country = country_of_timezone(timezone)
    if country is not None and country not in holidays.list_supported_countries():
        logger.warning("no public holidays known for %s (%s): plants work them", country, timezone)
        return None
    return country


def _meter(
    plant: str, meter: str, hints: tuple[str, ...], timezone: str, seed: int, choice: str
) -> SimulatedMeter:
    """A meter whose kind comes from its id or the hints (name, line), sized from its id."""
    return SimulatedMeter(
        plant,
        meter,
        default_profile(meter, infer_kind(meter, *hints)),
        timezone,
        seed,
        holidays_country(choice, timezone),
        phase_voltage_v=nominal_phase_voltage(country_of_timezone(timezone)),
    )


def fleet_from_config(
    config: KilowatchConfig, seed: int, holidays_choice: str = AUTO
) -> list[SimulatedMeter]:
    """One simulated meter per meter of the plant file."""
    fleet = [
        _meter(plant.id, meter.id, (meter.name, meter.line), plant.timezone, seed, holidays_choice)
        for plant in config.plants
        for meter in plant.meters
    ]
    if not fleet:
        raise ConfigError(
            "the plant file declares no meters to simulate: add meters under a plant, or leave "
            "KILOWATCH_CONFIG unset for a synthetic fleet"
        )
    return fleet


def synthetic_fleet(
    plants: int, meters: int, seed: int, timezone: str, holidays_choice: str = AUTO
) -> list[SimulatedMeter]:
    """plant-1..plant-N, each with meters press-1, compressor-1, hvac-1, ... press-2, ..."""
    kinds = len(METER_KINDS)
    return [
        _meter(
            f"plant-{p}",
            f"{METER_KINDS[m % kinds]}-{m // kinds + 1}",
            (),
            timezone,
            seed,
            holidays_choice,
        )
        for p in range(1, plants + 1)
        for m in range(meters)
    ]


def build_fleet(settings: SimulatorSettings) -> list[SimulatedMeter]:
    """The fleet the settings describe: the plant file's meters, else a synthetic fleet."""
    if settings.config is not None:
        config = load_config(settings.config)
        return fleet_from_config(config, settings.seed, settings.holidays_country)
    return synthetic_fleet(
        settings.plants,
        settings.meters,
        settings.seed,
        settings.timezone,
        settings.holidays_country,
    )
