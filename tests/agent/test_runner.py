"""The agent's loop against a real Mosquitto, real SQLite and a real pymodbus server.

These tests drive the agent poll by poll (agent.poll(ts), agent.pump(), agent.drain()) so that
what happens at each slot is known without waiting for a clock.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.constants import ExcCodes

from kilowatch.agent.runner import Agent, build_agent
from kilowatch.agent.settings import AgentSettings
from kilowatch.contract import AgentStatus, parse_agent_status
from kilowatch.contract.receipts import Receipt, RejectedReadings, receipts_topic
from kilowatch.metermodel.model import SimulatedMeter, default_profile
from kilowatch.registers import load_map
from tests.agent.modbus_server import ModbusMeterServer
from tests.agent.recorder import TopicRecorder
from tests.bridge.conftest import publish_raw
from tests.support.services import Mosquitto, free_port

pytestmark = pytest.mark.integration

PLANT = "hmo"
TZ = "America/Hermosillo"
T0 = (int(time.time()) // 86400 - 1) * 86400  # midnight UTC yesterday: a slot of every interval

MakeAgent = Callable[..., Agent]


@functools.cache
def model(meter: str) -> SimulatedMeter:
    """The simulator's model of a meter as the agent's simulated source builds it."""
    return SimulatedMeter(PLANT, meter, default_profile(meter), TZ, 0, "MX")


def register(meter: str, ts: int) -> float:
    return model(meter).register_at(ts).energy_total_kwh


@pytest.fixture
def make_agent(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[MakeAgent]:
    """Build agents from a config dict (merged over two simulated meters); closed afterwards."""
    built: list[Agent] = []

    def make(**config: Any) -> Agent:
        path = tmp_path / f"agent-{len(built)}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "plant": PLANT,
                    "agent": "edge-1",
                    "timezone": TZ,
                    # No bridge here to send receipts: rows go on PUBACK unless a test asks
                    # for receipts (test_rows_wait_for_their_receipt_...).
                    "delivery": "broker",
                    "meters": [
                        {"id": "press-01", "source": "simulated"},
                        {"id": "compressor-a", "source": "simulated"},
                    ],
                    **config,
                }
            )
        )
        settings = AgentSettings(agent_config=path, mqtt_url=mosquitto.url, mqtt_reconnect_max_s=1)
        agent = build_agent(settings)
        built.append(agent)
        return agent

    yield make
    for agent in built:
        agent.publisher.stop()
        agent.store.close()


@pytest.fixture
def recorder(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[TopicRecorder]:
    started = TopicRecorder(mosquitto, tmp_path / "received.txt").start()
    yield started
    started.stop()


def pump_until(
    agent: Agent, describe: str, done: Callable[[], bool], timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {describe}"
        agent.pump(0.05)


def connect(agent: Agent) -> None:
    agent.publisher.start()
    pump_until(agent, "the broker connection", lambda: agent.publisher.connected)


def drain_all(agent: Agent) -> None:
    """Send the whole backlog and wait for every PUBACK."""

    def empty() -> bool:
        agent.drain()
        return agent.store.stats().pending == 0 and agent.publisher.inflight_messages == 0

    pump_until(agent, "the backlog to drain", empty, timeout_s=60)


def check_tiling(readings: list[dict[str, Any]], meter: str, start_ts: int) -> None:
    """Readings cover (start_ts, last ts] end to end, each with the model's energy: none lost,
    none twice."""
    readings = sorted(readings, key=lambda r: r["ts"])
    begin = start_ts
    for reading in readings:
        assert reading["ts"] - reading["interval_s"] == begin, f"gap or overlap before {reading}"
        expected = register(meter, reading["ts"]) - register(meter, begin)
        assert reading["energy_kwh"] == pytest.approx(expected, abs=1e-6)
        begin = reading["ts"]


def test_a_reading_is_committed_before_it_is_published_and_deleted_after_puback(
    make_agent: MakeAgent, recorder: TopicRecorder
) -> None:
    agent = make_agent()
    connect(agent)
    agent.poll(T0)  # baselines only
    assert agent.store.stats().pending == 0
    agent.poll(T0 + 300)
    # Both readings are in SQLite the moment poll() returns: committed, published, not acked.
    assert agent.store.stats().pending == 2
    assert agent.publisher.inflight_readings == 2
    pump_until(agent, "PUBACKs", lambda: agent.publisher.inflight_messages == 0)
    assert agent.store.stats().pending == 0
    recorder.wait_until("2 readings", lambda: sum(map(len, recorder.readings().values())) == 2)
    for meter, readings in recorder.readings().items():
        check_tiling(readings, meter, T0)
        assert readings[0]["seq"] == 1
        assert readings[0]["energy_total_kwh"] == register(meter, T0 + 300)


def test_the_backlog_drains_oldest_first_in_arrays_after_an_outage(
    make_agent: MakeAgent, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    agent = make_agent(drain={"batch_readings": 16, "rate_readings_per_s": 100_000})
    connect(agent)
    agent.poll(T0)
    mosquitto.stop()
    pump_until(agent, "the disconnect", lambda: not agent.publisher.connected)
    for i in range(1, 41):
        agent.poll(T0 + 300 * i)
    assert agent.store.stats().pending == 80
    assert agent.publisher.inflight_messages == 0  # nothing is handed to paho while offline
    mosquitto.start()
    recorder = TopicRecorder(mosquitto, tmp_path / "after.txt").start()
    try:
        pump_until(agent, "the reconnect", lambda: agent.publisher.connected)
        drain_all(agent)
        recorder.wait_until(
            "80 readings", lambda: sum(map(len, recorder.readings().values())) == 80
        )
        messages = [(t, p) for t, p in recorder.messages() if t.endswith("/readings")]
    finally:
        recorder.stop()
    assert all(isinstance(p, list) and 1 <= len(p) <= 16 for _, p in messages)
    assert len(messages) == 6  # 40 readings per meter in arrays of 16: 16 + 16 + 8, twice
    firsts = [payload[0]["ts"] for _, payload in messages]
    assert firsts == sorted(firsts)  # oldest first
    for meter, readings in recorder.readings().items():
        assert len({r["ts"] for r in readings}) == 40
        check_tiling(readings, meter, T0)


def test_rows_wait_for_their_receipt_and_are_sent_again_without_one(
    make_agent: MakeAgent, mosquitto: Mosquitto, recorder: TopicRecorder
) -> None:
    """delivery: stored: a PUBACK does not delete a row; a receipt does (stored or rejected);
    a row whose receipt does not come in receipt_timeout_s goes out again."""
    agent = make_agent(delivery="stored", receipt_timeout_s=1)
    connect(agent)
    agent.poll(T0)
    agent.poll(T0 + 300)
    agent.poll(T0 + 600)
    pump_until(agent, "PUBACKs", lambda: agent.publisher.inflight_messages == 0)
    assert agent.store.stats().pending == 4  # acknowledged by the broker, not yet stored
    assert agent.status().awaiting_receipt_readings == 4
    recorder.wait_until("4 readings", lambda: sum(map(len, recorder.readings().values())) == 4)
    for topic, payload in recorder.messages():  # each message asks for a receipt
        first = payload if isinstance(payload, dict) else payload[0]
        assert not topic.endswith("/readings") or first["agent"] == "edge-1"
    receipt = Receipt(
        PLANT,
        "edge-1",
        T0,
        {"press-01": ((T0 + 300, T0 + 600, 300),)},
        (RejectedReadings("compressor-a", "future_ts", "made up", ((T0 + 300, T0 + 300, 0),)),),
    )
    publish_raw(mosquitto, receipts_topic(PLANT, "edge-1"), receipt.encode())
    pump_until(agent, "the receipt", lambda: agent.store.stats().pending == 1)
    assert [(r.meter, r.ts) for r in agent.store.pending(10)] == [("compressor-a", T0 + 600)]
    assert agent.status().readings_rejected == 1
    # No receipt for the last one: after receipt_timeout_s it is published again.
    pump_until(
        agent,
        "the resend",
        lambda: agent.drain() is not None and len(recorder.readings().get("compressor-a", [])) >= 3,
    )
    assert [r["ts"] for r in recorder.readings()["compressor-a"]][-1] == T0 + 600


def test_storage_full_pauses_polling_and_no_energy_is_lost(
    make_agent: MakeAgent, mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(storage={"max_mb": 0.1, "on_full": "pause"})
    agent.poll(T0)
    ts = T0
    with caplog.at_level(logging.WARNING):
        while not agent.paused:
            ts += 300
            agent.poll(ts)
            assert ts < T0 + 86400, "the cap never triggered"
        for _ in range(3):
            ts += 300
            agent.poll(ts)
    stored = agent.store.stats().pending
    status = agent.status()
    assert status.storage_full and status.polls_skipped == 4  # the one that paused and 3 more
    assert status.readings_dropped == 0
    assert any(r.levelno == logging.ERROR and "storage full" in r.message for r in caplog.records)
    recorder = TopicRecorder(mosquitto, tmp_path / "received.txt").start()
    try:
        connect(agent)
        drain_all(agent)
        ts += 300
        agent.poll(ts)  # below the cap again: stored, and it covers the whole pause
        assert not agent.paused and not agent.status().storage_full
        pump_until(agent, "PUBACKs", lambda: agent.publisher.inflight_messages == 0)
        total = stored + 2
        recorder.wait_until(
            f"{total} readings", lambda: sum(map(len, recorder.readings().values())) == total
        )
    finally:
        recorder.stop()
    for meter, readings in recorder.readings().items():
        check_tiling(readings, meter, T0)
        assert max(r["interval_s"] for r in readings) == 5 * 300  # the pause: 4 skipped polls
        assert sum(r["energy_kwh"] for r in readings) == pytest.approx(
            register(meter, ts) - register(meter, T0), abs=1e-3
        )


def test_drop_oldest_keeps_the_recent_readings_and_says_so(
    make_agent: MakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(storage={"max_mb": 0.1, "on_full": "drop_oldest"})
    agent.poll(T0)
    with caplog.at_level(logging.ERROR):
        for i in range(1, 601):
            agent.poll(T0 + 300 * i)
    status = agent.status()
    assert status.readings_dropped > 0  # kept across restarts: the status says so every minute
    assert status.polls_skipped == 0
    assert any("dropped the" in r.message and "oldest" in r.message for r in caplog.records)
    newest = agent.store.pending(2, oldest_first=False)
    assert {row.ts for row in newest} == {T0 + 300 * 600}
    assert agent.store.stats().pending + status.readings_dropped == 1200


def test_status_goes_to_the_broker_and_parses(
    make_agent: MakeAgent, recorder: TopicRecorder
) -> None:
    agent = make_agent()
    connect(agent)
    agent.poll(T0)
    agent.report()
    recorder.wait_until("a status", lambda: any("/_agents/" in t for t, _ in recorder.messages()))
    topic, payload = next((t, p) for t, p in recorder.messages() if "/_agents/" in t)
    assert topic == "kilowatch/hmo/_agents/edge-1/status"
    status = parse_agent_status(topic, json.dumps(payload).encode())
    assert isinstance(status, AgentStatus)
    assert (status.meters, status.backlog_readings, status.last_poll_ts) == (2, 0, T0)


ROLLOVER_MAP = {
    "model": "test counter",
    "source": "a made-up meter with a 32-bit Wh counter",
    "fields": {"energy_total_kwh": {"address": 100, "type": "uint32", "unit": "Wh"}},
}


def test_modbus_rollover_reset_and_spikes_give_right_interval_energy(
    make_agent: MakeAgent, recorder: TopicRecorder, tmp_path: Path
) -> None:
    (tmp_path / "counter.yaml").write_text(yaml.safe_dump(ROLLOVER_MAP))
    counter = load_map(str(tmp_path / "counter.yaml"))
    with ModbusMeterServer({1: counter, 2: counter, 3: load_map("eastron_sdm630")}) as server:
        meter = {"source": "modbus", "host": server.host, "port": server.port}
        agent = make_agent(
            meters=[
                {**meter, "id": "wraps", "unit_id": 1, "map": str(tmp_path / "counter.yaml")},
                {**meter, "id": "resets", "unit_id": 2, "map": str(tmp_path / "counter.yaml")},
                {
                    **meter,
                    "id": "spikes",
                    "unit_id": 3,
                    "map": "eastron_sdm630",
                    "max_power_kw": 100,
                },
            ]
        )
        connect(agent)
        top = 2**32 / 1000  # the counter wraps at 4,294,967.296 kWh
        steps = [
            (4_294_960.0, 5000.0, 1000.0),
            (4_294_966.0, 5010.0, 1005.0),
            (4.0, 2.5, 900_000.0),  # wraps; reset to 0 then counted 2.5; a garbage jump
            (10.0, 7.5, 900_004.0),
        ]
        for i, (wraps, resets, spikes) in enumerate(steps):
            server.set_values(1, energy_total_kwh=wraps)
            server.set_values(2, energy_total_kwh=resets)
            server.set_values(3, energy_total_kwh=spikes)
            agent.poll(T0 + 300 * i)
        pump_until(agent, "PUBACKs", lambda: agent.publisher.inflight_messages == 0)
        recorder.wait_until("8 readings", lambda: sum(map(len, recorder.readings().values())) == 8)
    got = {m: [round(r["energy_kwh"], 6) for r in rs] for m, rs in recorder.readings().items()}
    assert got["wraps"] == [6.0, pytest.approx(4.0 + top - 4_294_966.0), 6.0]
    assert got["resets"] == [10.0, 2.5, 5.0]
    assert got["spikes"] == [5.0, 4.0]  # the interval with the jump has no reading
    assert [r["ts"] for r in recorder.readings()["spikes"]] == [T0 + 300, T0 + 900]


def test_bad_modbus_answers_are_reported_and_the_other_meters_go_on(
    make_agent: MakeAgent, recorder: TopicRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    sdm = load_map("eastron_sdm630")
    with ModbusMeterServer({unit: sdm for unit in (1, 2, 3, 4)}) as server:
        for unit in (1, 2, 3, 4):
            server.set_values(unit, energy_total_kwh=1000.0, power_kw=12.0)
        server.fail(2, ExcCodes.ILLEGAL_ADDRESS)
        server.delay(3, 1.0)
        server.set_registers(4, sdm.fields["energy_total_kwh"].address, [0x7FC0, 0x0000])
        meter = {
            "source": "modbus",
            "host": server.host,
            "port": server.port,
            "map": "eastron_sdm630",
        }
        agent = make_agent(
            modbus={"timeout_s": 0.3, "retries": 0},
            meters=[
                {**meter, "id": "good", "unit_id": 1},
                {**meter, "id": "refuses", "unit_id": 2},
                {**meter, "id": "silent", "unit_id": 3},
                {**meter, "id": "nan", "unit_id": 4},
                {**meter, "id": "gone", "unit_id": 1, "port": free_port()},
            ],
        )
        connect(agent)
        with caplog.at_level(logging.INFO):
            for i in range(4):
                if i == 3:
                    server.fail(2, None)  # this one recovers for the last poll
                server.set_values(1, energy_total_kwh=1000.0 + 10 * i)
                agent.poll(T0 + 300 * i)
        pump_until(agent, "PUBACKs", lambda: agent.publisher.inflight_messages == 0)
        recorder.wait_until("3 readings", lambda: len(recorder.readings().get("good", [])) == 3)
    status = agent.status()
    assert status.failing_meters == ("gone", "nan", "silent")
    assert status.poll_errors == 4 * 3 + 3
    errors = [r.message for r in caplog.records if r.levelno == logging.ERROR]
    assert any("refuses" in e and "exception 2 (illegal data address)" in e for e in errors)
    assert any("silent" in e and "no answer" in e for e in errors)
    assert any("nan" in e and "energy_total_kwh" in e for e in errors)
    assert any("gone" in e and "cannot connect" in e for e in errors)
    assert sum("meter silent" in e for e in errors) == 1  # logged when it starts failing only
    assert any("meter refuses answers again" in r.message for r in caplog.records)
    assert [r["energy_kwh"] for r in recorder.readings()["good"]] == [10.0, 10.0, 10.0]


def test_a_clock_that_was_never_set_skips_polls(
    make_agent: MakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent()
    with caplog.at_level(logging.ERROR):
        agent.poll(86400 * 3)  # 1970-01-04: a device without a real-time clock, before NTP
    assert agent.store.states() == {}
    assert any("not set" in r.message for r in caplog.records)


def test_the_status_log_line_gives_the_oldest_reading_as_a_time(
    make_agent: MakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """Not 'oldest None' or an epoch number: '-' when nothing waits, else a UTC time."""
    agent = make_agent()
    with caplog.at_level(logging.INFO, logger="kilowatch.agent.runner"):
        agent.report()
        agent.poll(T0)
        agent.poll(T0 + 300)
        agent.report()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("status:")]
    assert "(oldest -)" in lines[0]
    assert re.search(r"readings waiting \(oldest \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)", lines[1])
