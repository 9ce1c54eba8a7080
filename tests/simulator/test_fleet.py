"""Fleets: the plant file's meters, or a synthetic fleet; holidays and voltage from the timezone."""

from __future__ import annotations

from pathlib import Path

import pytest

from kilowatch.config import ConfigError, KilowatchConfig
from kilowatch.simulator.fleet import (
    build_fleet,
    country_of_timezone,
    fleet_from_config,
    holidays_country,
    synthetic_fleet,
)
from kilowatch.simulator.settings import SimulatorSettings

TARIFF = Path(__file__).resolve().parents[2] / "config" / "tariffs" / "cfe-gdmth-noroeste.yaml"

PLANT_FILE = f"""
plants:
  - id: monterrey
    timezone: America/Monterrey
    tariff: {TARIFF}
    lines:
      - id: stamping
    meters:
      - id: m1
        line: stamping
        name: Transfer press 1
      - id: air-2
  - id: stuttgart
    timezone: Europe/Berlin
    tariff: {TARIFF}
    meters:
      - id: oven-1
"""


def test_fleet_from_the_plant_file(tmp_path: Path) -> None:
    path = tmp_path / "plants.yaml"
    path.write_text(PLANT_FILE)
    fleet = build_fleet(SimulatorSettings.load(config=path, seed=3))
    assert [(m.plant, m.meter, m.profile.kind) for m in fleet] == [
        ("monterrey", "m1", "press"),  # from its name
        ("monterrey", "air-2", "compressor"),
        ("stuttgart", "oven-1", "furnace"),
    ]
    assert [m.holidays_country for m in fleet] == ["MX", "MX", "DE"]
    assert [m.phase_voltage_v for m in fleet] == [127.0, 127.0, 230.0]
    assert {m.seed for m in fleet} == {3}


def test_a_plant_file_without_meters_says_what_to_do() -> None:
    config = KilowatchConfig.model_validate(
        {"plants": [{"id": "p", "timezone": "UTC", "tariff": str(TARIFF)}]}
    )
    with pytest.raises(ConfigError, match="declares no meters"):
        fleet_from_config(config, seed=0)


def test_synthetic_fleet_names_plants_and_meters_by_kind() -> None:
    fleet = synthetic_fleet(2, 8, seed=1, timezone="America/Mexico_City")
    assert len(fleet) == 16
    assert [m.meter for m in fleet[:8]] == [
        "press-1",
        "compressor-1",
        "hvac-1",
        "lighting-1",
        "furnace-1",
        "assembly-1",
        "press-2",
        "compressor-2",
    ]
    assert {m.plant for m in fleet} == {"plant-1", "plant-2"}
    assert all(m.profile.kind == m.meter.split("-")[0] for m in fleet)


def test_settings_without_a_plant_file_give_a_synthetic_fleet() -> None:
    fleet = build_fleet(SimulatorSettings.load(plants=1, meters=3, timezone="Europe/Madrid"))
    assert [(m.plant, m.meter, m.holidays_country) for m in fleet] == [
        ("plant-1", "press-1", "ES"),
        ("plant-1", "compressor-1", "ES"),
        ("plant-1", "hvac-1", "ES"),
    ]


def test_holidays_country_choice() -> None:
    assert country_of_timezone("America/Mexico_City") == "MX"
    assert country_of_timezone("UTC") is None
    assert holidays_country("auto", "Europe/Berlin") == "DE"
    assert holidays_country("none", "Europe/Berlin") is None
    assert holidays_country("US", "Europe/Berlin") == "US"
    assert holidays_country("auto", "UTC") is None
