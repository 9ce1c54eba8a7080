"""QoS 1 in-flight tracking: what each message carried comes back on its PUBACK, once."""

from __future__ import annotations

import threading

from kilowatch.mqtt.inflight import InFlight


def test_a_puback_returns_what_its_message_carried() -> None:
    inflight: InFlight[tuple[int, ...]] = InFlight()
    inflight.sent(1, (10, 11))
    inflight.sent(2, (12,))
    assert (len(inflight), sorted(inflight.carried())) == (2, [(10, 11), (12,)])
    assert inflight.acked(1) == (10, 11)
    assert inflight.acked(1) is None  # a second PUBACK for the same id carries nothing
    assert (inflight.published, inflight.acknowledged, len(inflight)) == (2, 1, 1)


def test_untracked_acks_are_ignored_unless_early_acks_are_expected() -> None:
    tracked: InFlight[bool] = InFlight()
    assert tracked.acked(5) is None  # e.g. an untracked status message
    tracked.sent(5, True)
    assert len(tracked) == 1

    early: InFlight[bool] = InFlight(early_acks=True)
    early.acked(5)  # paho's PUBACK beat publish() to recording the id
    early.sent(5, True)
    assert (len(early), early.acknowledged) == (0, 1)


def test_waits_end_when_there_is_room_or_when_stopped() -> None:
    inflight: InFlight[bool] = InFlight()
    inflight.sent(1, True)
    stop = threading.Event()
    threading.Timer(0.05, inflight.acked, args=(1,)).start()
    assert inflight.wait_below(1, stop) is True
    inflight.sent(2, True)
    stop.set()
    assert inflight.wait_below(1, stop) is False
    assert inflight.wait_empty(0.01, threading.Event()) == 1
