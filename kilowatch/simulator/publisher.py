"""The simulator's loop: the readings due on the timeline, one message per meter and batch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from kilowatch.clock import AcceleratedClock, due_count, next_slot
from kilowatch.contract import encode_readings, readings_topic
from kilowatch.metermodel.model import SimulatedMeter

logger = logging.getLogger(__name__)

BACKFILL_LOG_S = 10.0  # a backfill's progress line at least this often


class Sink(Protocol):
    """Where messages go (MqttSink): room is waited for before each publish."""

    def wait_for_room(self, stop: threading.Event) -> bool: ...

    def publish(self, topic: str, payload: bytes) -> None: ...

    @property
    def unacked(self) -> int: ...


def publish_fleet(
    fleet: Sequence[SimulatedMeter],
    sink: Sink,
    timeline: AcceleratedClock,
    *,
    history_from: float,
    interval_s: int,
    batch_size: int,
    topic_prefix: str,
    stop: threading.Event,
    count: int | None = None,
    deadline: float | None = None,
    log_interval_s: float = 10.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], object] | None = None,
) -> int:
    """Publish every meter's readings as they fall due, until count, deadline or stop.

    Readings end on multiples of interval_s after history_from, as they fall due on `timeline`
    (replay_clock). When several are due (a
    backfill, a replay, a catch-up) each meter gets arrays of up to batch_size; live, one reading
    per message. Returns how many readings each meter published. `clock` and `sleep` (by
    default stop.wait) are the wall clock's, replaceable in tests.
    """
    sleep = sleep or stop.wait
    topics = [readings_topic(m.plant, m.meter, topic_prefix) for m in fleet]
    next_end = next_slot(history_from, interval_s)
    published = 0
    started = clock()
    # History: the readings ending before the wall time at start (a backfill, or its replay).
    backfilling = next_end <= started
    backfill_log_s = min(log_interval_s, BACKFILL_LOG_S)
    next_log = started + (backfill_log_s if backfilling else log_interval_s)
    while not stop.is_set() and (count is None or published < count):
        now = clock()
        if deadline is not None and now >= deadline:
            break
        if now >= next_log:
            if backfilling:
                share = (next_end - history_from) / max(1.0, started - history_from)
                logger.info(
                    "backfill %.0f %%: readings up to %s published (%.0f readings/s)",
                    100 * min(1.0, share),
                    datetime.fromtimestamp(next_end - interval_s, UTC).isoformat(),
                    published * len(fleet) / max(1e-9, now - started),
                )
                next_log = now + backfill_log_s
            else:
                _log_progress(published, next_end - interval_s, now - started, len(fleet), sink)
                next_log = now + log_interval_s
        due = due_count(next_end, timeline.at(now), interval_s)
        if due == 0:
            wake = timeline.wall_at(next_end)
            if deadline is not None:
                wake = min(wake, deadline)
            sleep(max(0.0, min(wake, next_log) - clock()))
            continue
        batch = min(due, batch_size, count - published if count is not None else due)
        for meter, topic in zip(fleet, topics, strict=True):
            readings = meter.readings(next_end, interval_s, batch, next_end // interval_s)
            if not sink.wait_for_room(stop):
                return published
            sink.publish(topic, encode_readings(readings))
        published += batch
        next_end += batch * interval_s
        if backfilling and next_end > started:
            backfilling = False
            logger.info(
                "backfill done: %d readings per meter (%d meters) up to %s in %.0f s; now live, "
                "a reading per meter every %d s",
                published,
                len(fleet),
                datetime.fromtimestamp(next_end - interval_s, UTC).isoformat(),
                clock() - started,
                interval_s,
            )
            next_log = clock() + log_interval_s
    return published


def replay_clock(wall: float, history_s: float, speed: float) -> AcceleratedClock:
    """Simulated time: the last `history_s` replayed `speed` times faster, then the wall clock.

    At speed 1 simulated time is the wall clock from the outset, so every reading of the
    history is due at once (a backfill as fast as the broker takes it).
    """
    return AcceleratedClock(
        start=wall - history_s if speed != 1 else wall, speed=speed, anchor=wall
    )


def _log_progress(published: int, last_end: int, elapsed_s: float, meters: int, sink: Sink) -> None:
    rate = published * meters / elapsed_s if elapsed_s > 0 else 0.0
    logger.info(
        "%d readings per meter published, up to %s (%.0f readings/s); %d messages await PUBACK",
        published,
        datetime.fromtimestamp(last_end, UTC).isoformat(),
        rate,
        sink.unacked,
    )
