"""Fixtures that start real Mosquitto and InfluxDB 1.x servers (see tests/services.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import InfluxDB1, Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker for one test: anonymous, no persistence, the shipped no-loss queue limits."""
    with Mosquitto(workdir=tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture
def mosquitto_persistent(tmp_path: Path) -> Iterator[Mosquitto]:
    """Like `mosquitto`, with persistence: restart() keeps sessions and queued QoS 1 messages."""
    with Mosquitto(persistence=True, workdir=tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """One InfluxDB 1.x server for the whole run; use `influx_db_name` for a database of your own.

    Tests that stop, restart or kill InfluxDB must use `influxdb_private` instead.
    """
    with InfluxDB1(workdir=tmp_path_factory.mktemp("influxdb")) as server:
        yield server


@pytest.fixture
def influxdb_private(tmp_path: Path) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.x server for one test alone, free to stop, restart or kill."""
    with InfluxDB1(workdir=tmp_path / "influxdb") as server:
        yield server


@pytest.fixture
def influx_db_name(influxdb: InfluxDB1, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on `influxdb` for this test alone; dropped afterwards."""
    # The test's name makes a leftover database recognisable; the suffix makes it unique.
    readable = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    name = f"t_{readable}_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)
    yield name
    influxdb.drop_database(name)
