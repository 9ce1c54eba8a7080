"""Receipts end to end: `python -m kilowatch.agent` -> real Mosquitto -> `kilowatch bridge` ->
InfluxDB 1.x and back. The agent deletes a reading only when the bridge's receipt says it is
stored, so what a broker crash loses, or a receipt lost with the bridge, is sent again.

Coverage is checked as in test_end_to_end.py, without trusting the agent: per meter the
readings in InfluxDB (plus any still held) tile the time from the first to the baseline, with
no hole and no duplicate, each with the simulator's energy.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.agent.test_end_to_end import (
    METERS,
    _settled,
    agent_process,
    backfill,
    baselines,
    check_exactly_once,
    drained,
    in_influx,
    stored_in_sqlite,
    wait_for,
    write_config,
)
from tests.bridge.conftest import StartBridge, start_bridge  # noqa: F401  (a fixture)
from tests.support.services import BackgroundProcess, InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

RECEIPT_TIMEOUT_S = 3


def awaiting_receipt(path: Path) -> int:
    """Rows the broker acknowledged that wait for their receipt."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(
            db.execute("SELECT COUNT(*) FROM readings WHERE sent_at IS NOT NULL").fetchone()[0]
        )
    except sqlite3.OperationalError:  # the agent has not created its tables yet
        return 0
    finally:
        db.close()


def settle_and_check(
    tmp_path: Path, agent: BackgroundProcess, influx: InfluxDB1, database: str, meters: int
) -> int:
    """Wait until the agent holds only its last poll; stop it; check every reading arrived once."""
    sqlite_path = tmp_path / "agent.sqlite"
    wait_for("the agent to hold only its last poll", lambda: drained(sqlite_path, meters), 120)
    assert agent.stop() == 0
    held = stored_in_sqlite(sqlite_path)
    last = baselines(sqlite_path)
    wait_for("InfluxDB to have every reading", lambda: _settled(influx, database, held, last), 120)
    return check_exactly_once(in_influx(influx, database), held, last)


@pytest.mark.parametrize("keep_persistence_file", [True, False], ids=["with-file", "without-file"])
def test_a_broker_crash_while_the_bridge_is_away_loses_nothing(
    tmp_path: Path,
    mosquitto_persistent: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
    keep_persistence_file: bool,
) -> None:
    """(a) Bridge stopped, agent publishing, broker SIGKILLed and restarted, bridge started."""
    broker = mosquitto_persistent
    bridge = start_bridge(broker, influxdb, influx_db_name)  # its session and subscription
    bridge.stop()
    broker.restart()  # a clean stop saves the bridge's session in the persistence file
    meters = METERS[:3]
    config = write_config(tmp_path, meters, receipt_timeout_s=RECEIPT_TIMEOUT_S)
    now = time.time()
    start = int(now) // 300 * 300 - 86400
    agent = agent_process(tmp_path, broker, config, start=start, anchor=now, speed=600)
    agent.start()
    # The broker acknowledges readings and queues them for the absent bridge.
    wait_for(
        "30 readings queued in the broker",
        lambda: awaiting_receipt(tmp_path / "agent.sqlite") >= 30,
    )
    broker.kill()  # power loss: every queued message since the last save is gone
    if not keep_persistence_file:
        for saved in broker.dir.glob("mosquitto.db*"):
            saved.unlink()
    broker.start()
    since = bridge.log_size()
    bridge.start()
    bridge.wait_for_log("subscribed to", since=since)

    count = settle_and_check(tmp_path, agent, influxdb, influx_db_name, len(meters))
    assert count >= 30
    log = agent.log_path.read_text()
    assert "no receipt for" in log  # what the broker lost came back from the agent's SQLite


def test_receipts_lost_with_the_bridge_are_resent_and_stored_once(
    tmp_path: Path,
    mosquitto_persistent: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    """(c) The bridge stores a batch, sends its PUBACKs and is SIGKILLed before the receipts
    (KILOWATCH_TEST_KILL_BEFORE_RECEIPTS): the agent sends those readings again."""
    broker = mosquitto_persistent
    doomed = start_bridge(
        broker,
        influxdb,
        influx_db_name,
        client_id="bridge-1",
        extra_env={"KILOWATCH_TEST_KILL_BEFORE_RECEIPTS": "true"},
    )
    config = write_config(
        tmp_path,
        METERS,
        receipt_timeout_s=RECEIPT_TIMEOUT_S,
        drain={"batch_readings": 50, "rate_readings_per_s": 2000},
    )
    now = time.time()
    start = int(now) // 300 * 300 - 86400
    backfill(tmp_path / "agent.sqlite", METERS, start, 200)  # 800 readings waiting
    agent = agent_process(tmp_path, broker, config, start=start, anchor=now, speed=600)
    agent.start()
    doomed.wait(60)  # it killed itself after storing its first batch
    assert doomed.returncode is not None and doomed.returncode < 0
    assert "killing the bridge" in doomed.log_path.read_text()
    stored_before = len(in_influx(influxdb, influx_db_name))
    assert stored_before > 0
    assert awaiting_receipt(tmp_path / "agent.sqlite") > 0  # stored, but the agent cannot know
    start_bridge(
        broker,
        influxdb,
        influx_db_name,
        client_id="bridge-2",
        extra_env={"KILOWATCH_MQTT_CLIENT_ID": "bridge-1"},  # the same session
    )

    count = settle_and_check(tmp_path, agent, influxdb, influx_db_name, len(METERS))
    assert count >= 800
    assert "no receipt for" in agent.log_path.read_text()


def test_rejected_readings_are_named_dropped_and_counted(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    """A plant the bridge does not know: every reading is rejected (unknown_plant), and the
    receipt says so; the agent logs it, drops them instead of resending forever, counts them."""
    start_bridge(mosquitto, influxdb, influx_db_name)
    config = write_config(tmp_path, METERS[:1], plant="nowhere", receipt_timeout_s=60)
    now = time.time()
    agent = agent_process(
        tmp_path, mosquitto, config, start=int(now) // 300 * 300 - 3600, anchor=now, speed=600
    )
    agent.start()
    wait_for("a rejection in the log", lambda: "unknown_plant" in agent.log_path.read_text(), 60)
    wait_for("the agent to drop them", lambda: drained(tmp_path / "agent.sqlite", 1), 60)
    query = "SELECT last(readings_rejected) FROM agent_status WHERE agent = 'edge-1'"
    assert agent.stop() == 0
    assert in_influx(influxdb, influx_db_name) == []
    log = agent.log_path.read_text()
    assert "the bridge rejected" in log and "not sent again" in log
    assert influxdb.query(query, db=influx_db_name) == []  # its status is rejected too


def test_delivery_broker_deletes_on_puback_and_reports_no_receipt_fields(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    """`delivery: broker` is today's behaviour: no `agent` field, no receipts to wait for."""
    start_bridge(mosquitto, influxdb, influx_db_name)
    config = write_config(tmp_path, METERS[:2], delivery="broker")
    now = time.time()
    agent = agent_process(
        tmp_path, mosquitto, config, start=int(now) // 300 * 300 - 3600, anchor=now, speed=600
    )
    agent.start()
    query = "SELECT * FROM agent_status WHERE agent = 'edge-1'"
    wait_for("a status point", lambda: bool(influxdb.query(query, db=influx_db_name)), 60)
    count = settle_and_check(tmp_path, agent, influxdb, influx_db_name, 2)
    assert count >= 2
    assert awaiting_receipt(tmp_path / "agent.sqlite") == 0
    point = influxdb.query(query, db=influx_db_name)[-1]
    assert point.get("awaiting_receipt_readings") is None


def test_the_status_says_how_many_readings_await_their_receipt(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,  # noqa: F811
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name)
    config = write_config(tmp_path, METERS[:1])
    now = time.time()
    agent = agent_process(
        tmp_path, mosquitto, config, start=int(now) // 300 * 300 - 3600, anchor=now, speed=600
    )
    agent.start()
    query = (
        "SELECT awaiting_receipt_readings, awaiting_receipt_s, readings_rejected "
        "FROM agent_status WHERE agent = 'edge-1'"
    )
    wait_for("a status point", lambda: bool(influxdb.query(query, db=influx_db_name)), 60)
    assert agent.stop() == 0
    point = influxdb.query(query, db=influx_db_name)[-1]
    assert point["awaiting_receipt_readings"] >= 0
    assert point["awaiting_receipt_s"] >= 0
    assert point["readings_rejected"] == 0
