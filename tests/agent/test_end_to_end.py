"""The agent end to end: `python -m kilowatch.agent` -> real Mosquitto -> `kilowatch bridge` ->
InfluxDB 1.x, with simulated meters on an accelerated clock, through outages and SIGKILLs.

"Every reading exactly once" is checked without trusting the agent: per meter, the readings in
InfluxDB (plus any the agent still holds when stopped) must cover the time from the first one
end to end, with no gap (a lost reading) and no overlap (a duplicate), and each must carry the
energy the simulator's model says for its interval.
"""

from __future__ import annotations

import functools
import random
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from kilowatch.agent.energy import MeterState
from kilowatch.agent.store import ReadingStore
from kilowatch.metermodel.model import SimulatedMeter, default_profile
from tests.bridge.conftest import StartBridge, start_bridge  # noqa: F401  (a fixture)
from tests.support.services import BackgroundProcess, InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

PLANT, TZ = "hmo", "America/Hermosillo"  # declared in config/kilowatch.example.yaml
METERS = ("press-01", "press-02", "compressor-a", "hvac-main")


@functools.cache
def model(meter: str) -> SimulatedMeter:
    return SimulatedMeter(PLANT, meter, default_profile(meter), TZ, 0, "MX")


def register(meter: str, ts: int) -> float:
    return model(meter).register_at(ts).energy_total_kwh


def write_config(tmp_path: Path, meters: tuple[str, ...], **extra: Any) -> Path:
    path = tmp_path / "agent.yaml"
    config = {
        "plant": PLANT,
        "agent": "edge-1",
        "timezone": TZ,
        "status_interval_s": 1,
        "storage": {"path": str(tmp_path / "agent.sqlite")},
        "meters": [{"id": meter, "source": "simulated"} for meter in meters],
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def agent_process(
    tmp_path: Path, broker: Mosquitto, config: Path, *, start: int, anchor: float, speed: float
) -> BackgroundProcess:
    """`python -m kilowatch.agent` on a clock `speed` times faster than real, from `start`."""
    env = {
        "KILOWATCH_AGENT_CONFIG": str(config),
        "KILOWATCH_MQTT_URL": broker.url,
        "KILOWATCH_MQTT_RECONNECT_MAX_S": "1",
        "KILOWATCH_CLOCK_SPEED": str(speed),
        "KILOWATCH_CLOCK_START": str(start),
        "KILOWATCH_CLOCK_ANCHOR": str(anchor),
    }
    return BackgroundProcess.python_module(
        "kilowatch.agent", env=env, log_path=tmp_path / "agent.log"
    )


def stored_in_sqlite(path: Path) -> list[dict[str, Any]]:
    """Readings the agent still holds (read-only, alongside the running agent: WAL allows it)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT meter, body FROM readings").fetchall()
    finally:
        db.close()
    return [{"meter": meter, **orjson.loads(body)} for meter, body in rows]


def drained(path: Path, meters: int) -> bool:
    """Only the latest poll's readings (or none) wait for their PUBACK: the backlog is gone."""
    return len(stored_in_sqlite(path)) <= meters


def baselines(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT meter, ts FROM meter_state").fetchall())
    finally:
        db.close()


def in_influx(influx: InfluxDB1, database: str) -> list[dict[str, Any]]:
    rows = influx.query(
        f"SELECT \"meter\", energy_kwh, interval_s FROM energy WHERE plant = '{PLANT}'",
        db=database,
    )
    return [{"meter": r["meter"], "ts": r["time"], **r} for r in rows]


def wait_for(describe: str, done: Any, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {describe}"
        time.sleep(0.25)


def check_exactly_once(
    stored: list[dict[str, Any]], held: list[dict[str, Any]], last_ts: dict[str, int]
) -> int:
    """Each meter's readings tile its time from the first one to its baseline; the count."""
    duplicates = [k for k, n in Counter((r["meter"], r["ts"]) for r in stored).items() if n > 1]
    assert duplicates == [], f"stored twice in InfluxDB: {duplicates[:5]}"
    by_key = {(r["meter"], r["ts"]): r for r in stored}
    for reading in held:  # published but not yet acknowledged: it may be stored already
        by_key.setdefault((reading["meter"], reading["ts"]), reading)
    total = 0
    for meter in last_ts:
        readings = sorted((r for (m, _), r in by_key.items() if m == meter), key=lambda r: r["ts"])
        assert readings, f"no readings of {meter}"
        begin = readings[0]["ts"] - readings[0]["interval_s"]
        for reading in readings:
            assert reading["ts"] - reading["interval_s"] == begin, (
                f"{meter}: gap or overlap between {begin} and {reading}"
            )
            expected = register(meter, reading["ts"]) - register(meter, begin)
            assert reading["energy_kwh"] == pytest.approx(expected, abs=1e-6), reading
            begin = reading["ts"]
        assert begin == last_ts[meter], f"{meter}: readings stop at {begin}, baseline at {last_ts}"
        total += len(readings)
    return total


def test_a_broker_outage_loses_and_duplicates_nothing(
    tmp_path: Path,
    mosquitto_persistent: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    broker = mosquitto_persistent
    start_bridge(broker, influxdb, influx_db_name)
    meters = METERS[:3]
    config = write_config(tmp_path, meters)
    now = time.time()
    start = int(now) // 300 * 300 - 2 * 86400
    agent = agent_process(tmp_path, broker, config, start=start, anchor=now, speed=600)
    agent.start()
    wait_for("readings in InfluxDB", lambda: len(in_influx(influxdb, influx_db_name)) >= 6)
    broker.stop()
    # The broker is away for a while (about 80 simulated minutes): the agent keeps polling.
    wait_for(
        "a backlog of 30 readings",
        lambda: len(stored_in_sqlite(tmp_path / "agent.sqlite")) >= 30,
    )
    assert agent.alive
    broker.start()
    wait_for("the backlog to drain", lambda: drained(tmp_path / "agent.sqlite", len(meters)))
    assert agent.stop() == 0
    held = stored_in_sqlite(tmp_path / "agent.sqlite")
    last = baselines(tmp_path / "agent.sqlite")
    # What was published before the stop reaches InfluxDB (the bridge has a persistent session).
    wait_for(
        "InfluxDB to have every published reading",
        lambda: _settled(influxdb, influx_db_name, held, last),
    )
    count = check_exactly_once(in_influx(influxdb, influx_db_name), held, last)
    assert count >= 6 + 30  # before the outage, and the backlog it left
    log = agent.log_path.read_text()
    assert "readings are kept in SQLite" in log  # the outage was noticed and said


def _settled(
    influx: InfluxDB1, database: str, held: list[dict[str, Any]], last: dict[str, int]
) -> bool:
    """True when InfluxDB plus what the agent still holds reaches every meter's baseline."""
    latest: dict[str, int] = {}
    for reading in [*in_influx(influx, database), *held]:
        latest[reading["meter"]] = max(latest.get(reading["meter"], 0), reading["ts"])
    return latest == last


def backfill(path: Path, meters: tuple[str, ...], last_ts: int, count: int) -> None:
    """Put `count` readings per meter, ending at last_ts, into the agent's SQLite with their
    baselines, as if the agent had polled them during an outage."""
    store = ReadingStore(path)
    try:
        for meter in meters:
            readings = model(meter).readings(last_ts - 300 * (count - 1), 300, count, first_seq=1)
            end = model(meter).register_at(last_ts)
            state = MeterState(
                meter, last_ts, end.energy_total_kwh, end.reactive_total_kvarh, count
            )
            store.add(readings, [state])
    finally:
        store.close()


def test_sigkill_while_publishing_loses_and_duplicates_nothing(
    tmp_path: Path,
    mosquitto_persistent: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    """Kill the agent 20 times at random moments while it drains a backlog and polls live."""
    broker = mosquitto_persistent
    start_bridge(broker, influxdb, influx_db_name)
    config = write_config(
        tmp_path,
        METERS,
        drain={"batch_readings": 20, "rate_readings_per_s": 150, "max_inflight_messages": 4},
    )
    now = time.time()
    start = int(now) // 300 * 300 - 3 * 86400
    backfill(tmp_path / "agent.sqlite", METERS, start, 750)  # 3,000 readings waiting
    agent = agent_process(tmp_path, broker, config, start=start, anchor=now, speed=600)

    rng = random.Random(1129)
    during_backlog = 0
    for _ in range(20):
        since = agent.log_size()
        agent.start()
        agent.wait_for_log("connected to broker", since=since)
        time.sleep(rng.uniform(0.0, 1.0))
        during_backlog += len(stored_in_sqlite(tmp_path / "agent.sqlite")) > len(METERS)
        agent.kill(signal.SIGKILL)
        assert agent.wait() == -signal.SIGKILL
    assert during_backlog == 20  # every kill landed while the backlog was being published

    agent.start()
    wait_for("the backlog to drain", lambda: drained(tmp_path / "agent.sqlite", len(METERS)))
    assert agent.stop() == 0
    held = stored_in_sqlite(tmp_path / "agent.sqlite")
    last = baselines(tmp_path / "agent.sqlite")
    wait_for(
        "InfluxDB to have every published reading",
        lambda: _settled(influxdb, influx_db_name, held, last),
    )
    count = check_exactly_once(in_influx(influxdb, influx_db_name), held, last)
    assert count >= 3000


def test_the_agents_status_reaches_influxdb(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    """The bridge stores the agent's health in measurement agent_status (see the README)."""
    start_bridge(mosquitto, influxdb, influx_db_name)
    now = time.time()
    config = write_config(tmp_path, METERS[:1])
    agent = agent_process(
        tmp_path, mosquitto, config, start=int(now) - 86400, anchor=now, speed=600
    )
    agent.start()
    query = "SELECT * FROM agent_status WHERE agent = 'edge-1'"
    wait_for("a status point", lambda: bool(influxdb.query(query, db=influx_db_name)), 60)
    agent.stop()
    point = influxdb.query(query, db=influx_db_name)[-1]
    assert point["plant"] == PLANT
    assert point["meters"] == 1
    assert point["storage_full"] is False
    assert point["backlog_readings"] >= 0
