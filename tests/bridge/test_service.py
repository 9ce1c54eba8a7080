"""The bridge's shell: how it cuts what the network thread hands over into batches (every
message exactly once, in order, no batch over its limits) and when it reports."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.bridge.service import BATCH_MAX_BYTES, Bridge, Received
from kilowatch.bridge.settings import BridgeSettings
from kilowatch.config import load_config
from kilowatch.influx.writer import InfluxTarget, InfluxV1Writer
from kilowatch.mqtt.receive import Publish
from kilowatch.processing import Message, Processed, Processor
from tests.bridge.conftest import StartBridge, wait_for
from tests.support.services import InfluxDB1, Mosquitto, publish_lines

PLANT_FILE = Path(__file__).parents[2] / "config" / "kilowatch.example.yaml"


@functools.cache
def processor() -> Processor:
    return Processor(load_config(PLANT_FILE))


def bridge(limit: int) -> Bridge:
    """A bridge that is never started: only its batching is exercised."""
    return Bridge(
        BridgeSettings.load(config=PLANT_FILE, batch_max_messages=limit, flush_interval_ms=0),
        processor(),
        InfluxV1Writer(InfluxTarget("http://127.0.0.1:9", "unused")),
    )


def publishes(count: int, first: int, size: int = 10) -> list[Publish]:
    return [Publish("kilowatch/sea/m/readings", b"x" * size, first + i, 1) for i in range(count)]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 50), st.lists(st.integers(1, 120), min_size=1, max_size=12))
def test_every_message_is_batched_once_in_order_within_the_limit(
    limit: int, read_sizes: list[int]
) -> None:
    subject = bridge(limit)
    mid = 0
    for size in read_sizes:  # what the network thread does for each socket read
        subject._on_publishes(None, publishes(size, mid))  # type: ignore[arg-type]
        mid += size
    batched: list[int] = []
    while subject.queue_depth:
        reads = subject._collect()
        in_batch = [p.mid for read in reads for p in read.publishes]
        assert 0 < len(in_batch) <= limit
        batched += in_batch
    assert batched == list(range(mid))
    assert subject._leftover is None
    assert subject.pending_bytes == 0


def test_too_many_payload_bytes_pause_reading_without_holding_the_network_thread() -> None:
    subject = Bridge(
        BridgeSettings.load(config=PLANT_FILE, max_pending_mb=1, flush_interval_ms=0),
        processor(),
        InfluxV1Writer(InfluxTarget("http://127.0.0.1:9", "unused")),
    )
    subject._on_publishes(None, publishes(1, 0, 600_000))  # type: ignore[arg-type]
    assert not subject._client.reading_paused
    network = threading.Thread(
        target=subject._on_publishes, args=(None, publishes(1, 1, 600_000)), daemon=True
    )
    network.start()
    network.join(5)
    # The network thread returns at once (it sends the keepalive) and the socket is not read.
    assert not network.is_alive()
    assert subject.pending_bytes == 1_200_000
    assert subject._client.reading_paused
    subject._collect()  # takes what waits: reading resumes at the next collect
    subject._collect()
    assert not subject._client.reading_paused
    assert subject.pending_bytes == 0


def test_a_batch_stops_at_its_payload_bytes() -> None:
    subject = bridge(10_000)
    size = BATCH_MAX_BYTES // 10
    for first in range(0, 40, 2):
        subject._on_publishes(None, publishes(2, first, size))  # type: ignore[arg-type]
    reads = subject._collect()
    assert sum(len(p.payload) for read in reads for p in read.publishes) == pytest.approx(
        BATCH_MAX_BYTES, rel=0.25
    )
    assert subject.queue_depth == 40 - sum(len(read.publishes) for read in reads)


@pytest.mark.integration
def test_billing_points_keep_their_own_interval(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    plants = len(load_config(PLANT_FILE).plants)
    start_bridge(
        mosquitto, influxdb, influx_db_name, extra_env={"KILOWATCH_BILLING_INTERVAL_S": "3600"}
    )

    def health_points() -> int:
        rows = influxdb.query('SELECT count("queue_depth") FROM kilowatch_bridge', influx_db_name)
        return int(rows[0]["count"]) if rows else 0

    wait_for("three health points", lambda: min(health_points(), 3), 3, timeout_s=30)
    rows = influxdb.query('SELECT count("rate_now") FROM plant_info', influx_db_name)
    assert rows[0]["count"] == plants  # the first report's only: the next is an hour away


def queued_pubacks(subject: Bridge) -> list[int]:
    """The message ids of the PUBACKs queued on the bridge's (unconnected) client, in order."""
    data = b"".join(packet["packet"] for packet in subject._client._out_packet)
    assert data[::4] == b"\x40" * (len(data) // 4)  # PUBACKs, nothing else
    return [int.from_bytes(data[i + 2 : i + 4], "big") for i in range(0, len(data), 4)]


def test_only_messages_of_the_current_connection_are_acknowledged() -> None:
    subject = bridge(100)
    subject._connection = 4  # two connections ended since the first read below
    old, current = publishes(3, 1), [*publishes(2, 10), Publish("t", b"x", 0, 0)]  # + QoS 0
    subject._acknowledge(0, [Received(old, 2, 0.0), Received(current, 4, 0.0)])
    assert queued_pubacks(subject) == [10, 11]


def test_pubacks_go_out_in_the_order_messages_came() -> None:
    subject = bridge(100)
    subject._connection = 1
    batches = [[Received(publishes(2, first), 1, 0.0)] for first in (1, 3, 5)]
    subject._acknowledge(2, batches[2])  # stored first, by another store thread
    subject._acknowledge(1, batches[1])
    assert queued_pubacks(subject) == []  # batch 0 is not stored yet
    subject._acknowledge(0, batches[0])
    assert queued_pubacks(subject) == [1, 2, 3, 4, 5, 6]


class FailingProcessor(Processor):
    def process(self, messages: Sequence[Message], now: float) -> Processed:
        raise ValueError("a bug in costing")


class FailingWriter(InfluxV1Writer):
    def write(self, lines: list[str]) -> None:
        raise ValueError("a bug in writing")


@pytest.mark.integration
@pytest.mark.parametrize("broken", ["costing", "writing"])
def test_an_unexpected_error_stops_the_bridge_instead_of_hanging_it(
    mosquitto: Mosquitto, broken: str
) -> None:
    config = load_config(PLANT_FILE)
    settings = BridgeSettings.load(
        config=PLANT_FILE, mqtt_url=mosquitto.url, mqtt_client_id=f"failing-{broken}"
    )
    target = InfluxTarget("http://127.0.0.1:9", "unused")
    subject = Bridge(
        settings,
        FailingProcessor(config) if broken == "costing" else Processor(config),
        FailingWriter(target) if broken == "writing" else InfluxV1Writer(target),
    )
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            subject.run()
        except BaseException as err:  # the test looks at whatever ended it
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    mosquitto.wait_for_subscription(f"failing-{broken}", "kilowatch/+/+/readings")
    publish_lines(mosquitto, "kilowatch/sea/m-1/readings", ['{"ts": 1790000000, "energy_kwh": 1}'])
    thread.join(30)
    assert not thread.is_alive(), "the bridge hung after the error"
    assert outcome and "a bug in" in str(outcome[0].__cause__ or outcome[0])
