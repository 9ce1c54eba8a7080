"""Fixtures of the ETL tests: the example plant file and its plants."""

from __future__ import annotations

from pathlib import Path

import pytest

from kilowatch.config import KilowatchConfig, PlantConfig, load_config
from tests.etl.samples import PLANT_FILE


@pytest.fixture(scope="session")
def plant_file() -> Path:
    return PLANT_FILE


@pytest.fixture(scope="session")
def config() -> KilowatchConfig:
    return load_config(PLANT_FILE)


@pytest.fixture(scope="session")
def sea(config: KilowatchConfig) -> PlantConfig:
    """Seattle: America/Los_Angeles (DST), lines assembly and utilities."""
    return config.plant_by_id["sea"]


@pytest.fixture(scope="session")
def hmo(config: KilowatchConfig) -> PlantConfig:
    """Hermosillo: America/Hermosillo (no DST), lines press, paint, utilities."""
    return config.plant_by_id["hmo"]
