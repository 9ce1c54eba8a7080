"""The bridge writes `demand_watch` and `budget_watch` points after stored batches (real
Mosquitto, InfluxDB 1.x and `kilowatch bridge`), and none when the setting is off."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kilowatch.billing.running import RunningBill
from kilowatch.bridge.bills import RunningBills
from kilowatch.config import load_config
from kilowatch.processing import Message, Processor
from tests.support.services import BackgroundProcess, kilowatch_argv, require_binary

PLANT_FILE = Path("config/kilowatch.example.yaml").resolve()
POWER_KW = 90.0
ENERGY_KWH = 1.0  # in one minute: 60 kW mean
WINDOW_S = 900


def start_bridge(mosquitto: Any, influxdb: Any, db: str, tmp_path: Path, **env: str):
    process = BackgroundProcess(
        kilowatch_argv("bridge"),
        env={
            "KILOWATCH_CONFIG": str(PLANT_FILE),
            "KILOWATCH_MQTT_URL": mosquitto.url,
            "KILOWATCH_MQTT_CLIENT_ID": f"bridge-{db[-8:]}",
            "KILOWATCH_INFLUX_URL": influxdb.url,
            "KILOWATCH_INFLUX_BUCKET": db,
            "KILOWATCH_HEALTH_INTERVAL_S": "1",
            "KILOWATCH_BILLING_INTERVAL_S": "1",
            **env,
        },
        log_path=tmp_path / "bridge.log",
    )
    process.start()
    process.wait_for_log("subscribed to")
    return process


def publish(mosquitto: Any, ts: int) -> None:
    """One reading of press-01 (plant hmo): the minute ending at `ts`, with power_kw."""
    payload = {"ts": ts, "interval_s": 60, "energy_kwh": ENERGY_KWH, "power_kw": POWER_KW}
    subprocess.run(
        [
            require_binary("mosquitto_pub", "mosquitto-clients"),
            *mosquitto.client_args(),
            "-q",
            "1",
            "-t",
            "kilowatch/hmo/press-01/readings",
            "-m",
            json.dumps(payload),
        ],
        check=True,
        timeout=60,
    )


def wait_for(influxdb: Any, db: str, query: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = influxdb.query(query, db)
        if rows:
            return rows
        time.sleep(0.3)
    return []


@pytest.mark.integration
def test_the_bridge_projects_the_open_window_after_a_stored_batch(
    mosquitto: Any, influxdb: Any, influx_db_name: str, tmp_path: Path
) -> None:
    bridge = start_bridge(mosquitto, influxdb, influx_db_name, tmp_path)
    try:
        ts = int(time.time()) // 60 * 60
        publish(mosquitto, ts)
        rows = wait_for(
            influxdb,
            influx_db_name,
            'SELECT * FROM "demand_watch" WHERE "plant" = \'hmo\' AND "meters_measured" = 1',
        )
    finally:
        bridge.stop()
    assert rows, "no demand_watch point for plant hmo"
    point = rows[-1]
    start, end = point["window_start_ts"], point["window_end_ts"]
    assert end - start == WINDOW_S and point["time"] - start <= WINDOW_S
    # By hand: the reading's energy if it lies in the window, and 90 kW from where it ends.
    so_far = ENERGY_KWH if ts - 60 >= start else 0.0
    rest = POWER_KW * (end - max(ts, start)) / 3600
    assert point["projected_kw"] == pytest.approx((so_far + rest) * 3600 / WINDOW_S)
    assert point["charge"] in {"Distribucion", "Capacidad"} and point["currency"] == "MXN"
    budget = influxdb.query('SELECT * FROM "budget_watch" WHERE "plant" = \'hmo\'', influx_db_name)
    assert budget and budget[-1]["bill_so_far"] > 0


@pytest.mark.integration
def test_the_projection_stays_fresh_between_batches(
    mosquitto: Any, influxdb: Any, influx_db_name: str, tmp_path: Path
) -> None:
    """Meters sending every 5 or 15 minutes make a batch that often: with the billing points
    (every BILLING_INTERVAL_S), the open window is projected again, so the demand rule (which
    reads the last 2 minutes) sees the window it must warn about until it closes."""
    bridge = start_bridge(mosquitto, influxdb, influx_db_name, tmp_path)
    try:
        publish(mosquitto, int(time.time()) // 60 * 60)
        query = 'SELECT "seconds_left" FROM "demand_watch" WHERE "charge" = \'Distribucion\''
        deadline = time.monotonic() + 30
        while len(rows := influxdb.query(query, influx_db_name)) < 3:
            assert time.monotonic() < deadline, f"only {len(rows)} demand_watch points"
            time.sleep(0.3)
    finally:
        bridge.stop()
    assert len({row["time"] for row in rows}) == len(rows)


@pytest.mark.integration
def test_no_projection_when_turned_off(
    mosquitto: Any, influxdb: Any, influx_db_name: str, tmp_path: Path
) -> None:
    bridge = start_bridge(
        mosquitto, influxdb, influx_db_name, tmp_path, KILOWATCH_DEMAND_WATCH="false"
    )
    try:
        publish(mosquitto, int(time.time()) // 60 * 60)
        assert wait_for(influxdb, influx_db_name, 'SELECT * FROM "billing"')
        time.sleep(1.5)
    finally:
        bridge.stop()
    assert influxdb.query('SELECT * FROM "demand_watch"', influx_db_name) == []


def test_projections_come_at_most_once_an_interval_and_follow_the_plant_file() -> None:
    config = load_config(PLANT_FILE)
    processor = Processor(config)
    bills = RunningBills({p: RunningBill(t, p) for p, t in processor.tariffs.items()})
    assert bills.demand_lines(1e9, 1.0) == []  # off until watch_demand()
    plants = {p.id: p.model_copy(update={"budget": 5000.0}) for p in config.plants}
    bills.watch_demand(plants)
    now = int(time.time()) // 60 * 60
    payload = json.dumps({"ts": now, "interval_s": 60, "energy_kwh": 1.0, "power_kw": 90.0})
    message = Message("kilowatch/hmo/press-01/readings", payload.encode(), now)
    processed = processor.process([message], now)
    bills.count(processed.stored_readings())
    bills.observe(processed)
    lines = bills.demand_lines(now, 1.0)
    assert any(line.startswith("demand_watch,") and "plant=hmo" in line for line in lines)
    assert any(line.startswith("budget_watch,") and "budget=5000" in line for line in lines)
    assert bills.demand_lines(now + 0.5, 1.0) == []
    assert bills.demand_lines(now + 1.0, 1.0)
