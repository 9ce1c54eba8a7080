"""Fixtures for the bridge's integration tests: a running `kilowatch bridge` on real servers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.services import (
    REPO_ROOT,
    BackgroundProcess,
    InfluxDB1,
    Mosquitto,
    kilowatch_argv,
    require_binary,
)

EXAMPLE_PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
StartBridge = Callable[..., BackgroundProcess]


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[StartBridge]:
    """Start `kilowatch bridge` against a broker and an InfluxDB database; stopped at the end."""
    started: list[BackgroundProcess] = []

    def start(
        broker: Mosquitto,
        influx: InfluxDB1,
        database: str,
        *,
        client_id: str = "bridge-under-test",
        plant_file: Path = EXAMPLE_PLANT_FILE,
        extra_env: dict[str, str] | None = None,
    ) -> BackgroundProcess:
        env = {
            "KILOWATCH_CONFIG": str(plant_file),
            "KILOWATCH_MQTT_URL": broker.url,
            "KILOWATCH_MQTT_CLIENT_ID": client_id,
            "KILOWATCH_INFLUX_URL": influx.url,
            "KILOWATCH_INFLUX_BUCKET": database,
            "KILOWATCH_HEALTH_INTERVAL_S": "1",
            "KILOWATCH_RETRY_MAX_S": "1",
            **(extra_env or {}),
        }
        process = BackgroundProcess(
            kilowatch_argv("bridge"), env=env, log_path=tmp_path / f"{client_id}.log"
        )
        since = process.log_size()
        process.start()
        process.wait_for_log("subscribed to", since=since)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def publish_raw(broker: Mosquitto, topic: str, payload: bytes) -> None:
    """Publish one message of arbitrary bytes (QoS 1) with `mosquitto_pub -s`."""
    subprocess.run(
        [
            require_binary("mosquitto_pub", "mosquitto-clients"),
            *broker.client_args(),
            "-q",
            "1",
            "-t",
            topic,
            "-s",
        ],
        input=payload,
        check=True,
        timeout=60,
    )


def reading_payloads(count: int, *, start_ts: int, interval_s: int = 300) -> list[str]:
    """`count` single-reading payloads with consecutive timestamps and known energies."""
    return [
        orjson.dumps(
            {"ts": start_ts + i * interval_s, "energy_kwh": 1 + (i % 7) / 10, "seq": i}
        ).decode()
        for i in range(count)
    ]


def wait_for(
    describe: str, probe: Callable[[], int], expected: int, *, timeout_s: float = 60
) -> int:
    """Poll probe() until it returns expected; fail naming what was awaited and the last value."""
    deadline = time.monotonic() + timeout_s
    value = probe()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.25)
        value = probe()
    assert value == expected, f"{describe}: expected {expected}, got {value} after {timeout_s} s"
    return value


def count_points(influx: InfluxDB1, database: str, measurement: str = "energy") -> int:
    """How many points a measurement holds (0 when it does not exist yet)."""
    field = "energy_kwh" if measurement == "energy" else "count"
    rows = influx.query(f'SELECT count("{field}") FROM "{measurement}"', db=database)
    return int(rows[0]["count"]) if rows else 0


def health_total(influx: InfluxDB1, database: str, field: str) -> int:
    """The sum of one `kilowatch_bridge` counter over every report so far."""
    rows = influx.query(f'SELECT sum("{field}") FROM kilowatch_bridge', db=database)
    return int(rows[0]["sum"]) if rows else 0
