"""What the bridge tells a person: at start (broker away, hopeless InfluxDB URL), about input it
sets aside, and at SIGTERM; and that `kilowatch bridge` and `kilowatch simulate` with no options
work together."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.bridge.conftest import EXAMPLE_PLANT_FILE, StartBridge, publish_raw
from tests.support.services import (
    REPO_ROOT,
    BackgroundProcess,
    InfluxDB1,
    Mosquitto,
    free_port,
    kilowatch_argv,
)

pytestmark = pytest.mark.integration


def bridge(tmp_path: Path, env: dict[str, str], name: str = "bridge") -> BackgroundProcess:
    return BackgroundProcess(
        kilowatch_argv("bridge"),
        env={"KILOWATCH_CONFIG": str(EXAMPLE_PLANT_FILE), **env},
        log_path=tmp_path / f"{name}.log",
        cwd=REPO_ROOT,
    )


def test_broker_away_at_start_is_said_and_sigterm_stops_it(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    process = bridge(
        tmp_path,
        {
            "KILOWATCH_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
            "KILOWATCH_INFLUX_URL": influxdb.url,
            "KILOWATCH_INFLUX_BUCKET": influx_db_name,
        },
    ).start()
    try:
        process.wait_for_log("cannot reach the broker mqtt://127.0.0.1:")
    finally:
        process.kill(signal.SIGTERM)
    assert process.wait() == 0, process.log_tail()
    assert "SIGTERM: stopping" in process.log_tail()
    assert "bridge stopped" in process.log_tail()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://no-such-host.invalid:8086", "host name not found (DNS)"),
        ("https://127.0.0.1:{port}", "TLS failed"),  # TLS to InfluxDB's plain HTTP port
    ],
)
def test_a_hopeless_influxdb_url_exits_2_saying_why(
    url: str, said: str, influxdb: InfluxDB1, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    process = bridge(
        tmp_path,
        {
            "KILOWATCH_MQTT_URL": mosquitto.url,
            "KILOWATCH_INFLUX_URL": url.format(port=influxdb.port),
        },
    ).start()
    assert process.wait(timeout_s=60) == 2, process.log_tail()
    lines = [line for line in process.log_tail().splitlines() if line.strip()]
    assert lines[-1].startswith("error: InfluxDB at "), lines
    assert said in lines[-1]
    assert "Traceback" not in process.log_tail()


def test_rejections_are_logged_with_their_reason(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    process = start_bridge(mosquitto, influxdb, influx_db_name)
    since = process.log_size()
    for _ in range(3):
        publish_raw(
            mosquitto,
            "kilowatch/plant-1/press-1/readings",
            b'{"ts": 1796000100, "energy_kwh": 1.0, "interval_s": 300}',
        )
    publish_raw(mosquitto, "kilowatch/hmo/press-01/readings", b"{not json")
    # Logged at most every 10 s, so the next batch (or the stop) brings the line out.
    time.sleep(10.5)
    publish_raw(mosquitto, "kilowatch/hmo/press-01/readings", b"[]")
    process.wait_for_log("unknown_plant x3, e.g. plant-1/press-1: ", since=since, timeout_s=30)
    assert "invalid_json x1" in process.log_tail()


def test_bridge_and_simulate_with_no_options_work_together(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    """Only where the servers are is given (as env vars): no plant file, no fleet options."""
    servers = {
        "KILOWATCH_MQTT_URL": mosquitto.url,
        "KILOWATCH_INFLUX_URL": influxdb.url,
        "KILOWATCH_INFLUX_BUCKET": influx_db_name,
    }
    running = BackgroundProcess(
        kilowatch_argv("bridge"), env=servers, log_path=tmp_path / "bridge.log", cwd=REPO_ROOT
    ).start()
    try:
        running.wait_for_log("subscribed to")
        simulator = BackgroundProcess(
            kilowatch_argv("simulate", "--backfill", "1h", "--count", "12"),
            env=servers,
            log_path=tmp_path / "simulate.log",
            cwd=REPO_ROOT,
        ).start()
        assert simulator.wait(timeout_s=120) == 0, simulator.log_tail()
        assert "backfill done" in simulator.log_tail()
        expected = 10 * 12  # the example plant file's 10 meters
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = influxdb.query('SELECT count("energy_kwh") FROM "energy"', influx_db_name)
            if rows and rows[0]["count"] >= expected:
                break
            time.sleep(0.5)
        assert rows and rows[0]["count"] == expected, running.log_tail()
        assert influxdb.query('SELECT * FROM "rejected"', influx_db_name) == []
    finally:
        running.kill(signal.SIGTERM)
        running.wait()
