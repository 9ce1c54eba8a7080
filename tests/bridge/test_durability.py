"""Nothing is lost when InfluxDB goes away or the bridge is killed in the middle of a run."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import pytest

from tests.bridge.conftest import (
    StartBridge,
    count_points,
    health_total,
    reading_payloads,
    wait_for,
)
from tests.support.services import InfluxDB1, Mosquitto, publish_lines

pytestmark = pytest.mark.integration

TOPIC = "kilowatch/sea/assembly-02/readings"
START_TS = 1_780_000_000  # 2026-05-28: 30,000 readings 5 min apart end in September 2026


def publish_in_background(broker: Mosquitto, payloads: list[str]) -> threading.Thread:
    """Publish while the test disturbs the bridge; join() it to know every PUBACK came back."""
    thread = threading.Thread(
        target=publish_lines, args=(broker, TOPIC, payloads), kwargs={"timeout_s": 300}
    )
    thread.start()
    return thread


def wait_until_at_least(probe: Callable[[], int], minimum: int, timeout_s: float = 60) -> int:
    """Poll probe() until it reaches minimum; its value then."""
    deadline = time.monotonic() + timeout_s
    while (value := probe()) < minimum:
        assert time.monotonic() < deadline, f"only {value} of {minimum} after {timeout_s} s"
        time.sleep(0.05)
    return value


def stored_energy(influx: InfluxDB1, database: str) -> float:
    rows = influx.query('SELECT sum("energy_kwh") FROM energy', db=database)
    return float(rows[0]["sum"]) if rows else 0.0


def test_influxdb_stopped_and_restarted_mid_run_loses_nothing(
    mosquitto: Mosquitto, influxdb_private: InfluxDB1, start_bridge: StartBridge
) -> None:
    influx, database = influxdb_private, "outage"
    influx.create_database(database)
    bridge = start_bridge(mosquitto, influx, database)
    payloads = reading_payloads(20_000, start_ts=START_TS)
    publisher = publish_in_background(mosquitto, payloads[:10_000])

    wait_until_at_least(lambda: count_points(influx, database), 1_000)
    influx.stop()
    publisher.join()
    # Half the readings arrive while InfluxDB is down, however fast the first half was stored.
    publisher = publish_in_background(mosquitto, payloads[10_000:])
    time.sleep(3)  # the bridge keeps receiving and retrying, acknowledging nothing
    assert bridge.alive
    influx.start()

    publisher.join()
    wait_for(
        "stored readings", lambda: count_points(influx, database), len(payloads), timeout_s=120
    )
    # The retries reach InfluxDB in a health point after it is back: wait for that point.
    assert wait_until_at_least(lambda: health_total(influx, database, "retries"), 1) > 0
    expected_energy = sum(1 + (i % 7) / 10 for i in range(len(payloads)))
    assert stored_energy(influx, database) == pytest.approx(expected_energy, rel=1e-12)


def test_bridge_killed_mid_run_and_restarted_loses_nothing(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    bridge = start_bridge(mosquitto, influxdb, influx_db_name)
    payloads = reading_payloads(30_000, start_ts=START_TS)
    publisher = publish_in_background(mosquitto, payloads)

    stored = 0
    for _ in range(3):
        stored = wait_until_at_least(lambda: count_points(influxdb, influx_db_name), stored + 1_000)
        bridge.kill(signal.SIGKILL)
        bridge.wait()
        since = bridge.log_size()
        bridge.start()  # same client id: the broker redelivers what was not acknowledged
        bridge.wait_for_log("subscribed to", since=since)

    publisher.join()
    wait_for(
        "stored readings",
        lambda: count_points(influxdb, influx_db_name),
        len(payloads),
        timeout_s=120,
    )
    expected_energy = sum(1 + (i % 7) / 10 for i in range(len(payloads)))
    assert stored_energy(influxdb, influx_db_name) == pytest.approx(expected_energy, rel=1e-12)
