"""QoS 1 bursts through Mosquitto: the shipped queue limits deliver all, the defaults do not.

The bursts are published by `mosquitto_pub -l` and received by `mosquitto_sub`, each in its own
process, so what is measured is the broker's queueing, not a Python client starving itself.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from kilowatch.contract import Reading, encode_readings, readings_topic
from tests.support.services import (
    Mosquitto,
    SessionSubscriber,
    no_loss_queue_settings,
    publish_lines,
)

BURST = 50_000
PLANT, METER = "burst-plant", "meter-1"
TOPIC = readings_topic(PLANT, METER)
FIRST_TS = 1_700_000_000

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def burst() -> list[str]:
    """BURST single-reading payloads as an agent would send them, numbered by seq."""
    return [
        encode_readings(
            [Reading(PLANT, METER, ts=FIRST_TS + 300 * seq, energy_kwh=0.5 + seq % 7, seq=seq)]
        ).decode()
        for seq in range(BURST)
    ]


def missing_seqs(payloads: list[str]) -> set[int]:
    """Seq numbers of the burst that never arrived (QoS 1 may duplicate: those count once)."""
    return set(range(BURST)) - {orjson.loads(payload)["seq"] for payload in payloads}


def test_test_brokers_run_the_shipped_queue_limits(mosquitto: Mosquitto) -> None:
    config = mosquitto.config_path.read_text()
    assert no_loss_queue_settings() in config
    assert "max_queued_messages" in no_loss_queue_settings()
    assert "max_inflight_messages 10000" in no_loss_queue_settings()


def test_burst_reaches_a_connected_persistent_subscriber(
    mosquitto: Mosquitto, burst: list[str], tmp_path: Path
) -> None:
    subscriber = SessionSubscriber(mosquitto, "bridge-connected", TOPIC, tmp_path / "sub.out")
    subscriber.register()
    subscriber.connect()

    publish_lines(mosquitto, TOPIC, burst)

    missing = missing_seqs(subscriber.drain())
    assert not missing, f"{len(missing)} of {BURST} QoS 1 messages lost"


def test_burst_waits_for_a_persistent_subscriber_that_was_offline(
    mosquitto: Mosquitto, burst: list[str], tmp_path: Path
) -> None:
    subscriber = SessionSubscriber(mosquitto, "bridge-offline", TOPIC, tmp_path / "sub.out")
    subscriber.register()

    publish_lines(mosquitto, TOPIC, burst)
    subscriber.connect()

    missing = missing_seqs(subscriber.drain())
    assert not missing, f"{len(missing)} of {BURST} QoS 1 messages lost"


def test_default_queue_limit_drops_most_of_a_burst_to_an_offline_subscriber(
    burst: list[str], tmp_path: Path
) -> None:
    # The trap the shipped config avoids, kept as a test so it shows the burst tests above can
    # fail: with Mosquitto's default max_queued_messages (1000) the broker keeps only the first
    # ~1,000 messages for a subscriber that is away and silently drops the rest.
    with Mosquitto(no_loss_queues=False, workdir=tmp_path / "mosquitto") as broker:
        subscriber = SessionSubscriber(broker, "bridge-offline", TOPIC, tmp_path / "sub.out")
        subscriber.register()

        publish_lines(broker, TOPIC, burst)
        subscriber.connect()

        missing = missing_seqs(subscriber.drain())
        assert len(missing) > BURST // 2, f"only {len(missing)} of {BURST} lost"
        log = broker.process.log_path.read_text() if broker.process else ""
        assert "Outgoing messages are being dropped for client bridge-offline" in log
