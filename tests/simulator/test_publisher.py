"""The publishing loop: backfill complete and aligned, live one by one, replays never ahead."""

from __future__ import annotations

import threading

import orjson
import pytest

from kilowatch.contract import MAX_PAYLOAD_BYTES, Reading, encode_readings, parse_message
from kilowatch.metermodel.model import SimulatedMeter, default_profile
from kilowatch.simulator.fleet import synthetic_fleet
from kilowatch.simulator.publisher import publish_fleet, replay_clock

WALL = 1_796_068_923.4  # not on an interval boundary, as a real start is not


class FakeClock:
    """Wall-clock time that moves only when the loop sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


class RecordingSink:
    """Keeps what is published, with the wall-clock time it was published at."""

    unacked = 0

    def __init__(self, clock: FakeClock, stop_after: int | None = None) -> None:
        self.clock = clock
        self.stop_after = stop_after
        self.sent: list[tuple[float, str, bytes]] = []

    def wait_for_room(self, stop: threading.Event) -> bool:
        if self.stop_after is not None and len(self.sent) >= self.stop_after:
            stop.set()
        return not stop.is_set()

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append((self.clock(), topic, payload))

    def readings(self) -> list[tuple[float, Reading]]:
        out = []
        for at, topic, payload in self.sent:
            parsed = parse_message(topic, payload, now=at)
            assert parsed.rejections == []
            out += [(at, reading) for reading in parsed.readings]
        return out


def run(
    fleet: list[SimulatedMeter],
    *,
    back_s: float,
    speed: float = 1.0,
    count: int | None = None,
    deadline: float | None = None,
    batch_size: int = 100,
    stop_after: int | None = None,
) -> tuple[int, RecordingSink]:
    clock = FakeClock(WALL)
    sink = RecordingSink(clock, stop_after)
    published = publish_fleet(
        fleet,
        sink,
        replay_clock(WALL, back_s, speed),
        history_from=WALL - back_s,
        interval_s=300,
        batch_size=batch_size,
        topic_prefix="kilowatch",
        stop=threading.Event(),
        count=count,
        deadline=deadline,
        clock=clock,
        sleep=clock.sleep,
    )
    return published, sink


def test_backfill_is_complete_aligned_and_batched() -> None:
    fleet = synthetic_fleet(2, 2, seed=1, timezone="America/Mexico_City")
    published, sink = run(fleet, back_s=86400, deadline=WALL + 1)
    assert published == 288
    first = (int(WALL - 86400) // 300 + 1) * 300
    expected = list(range(first, first + 288 * 300, 300))
    assert expected[-1] <= WALL < expected[-1] + 300
    for m in fleet:
        mine = [r for _, r in sink.readings() if (r.plant, r.meter) == (m.plant, m.meter)]
        assert [r.ts for r in mine] == expected
        assert [r.seq for r in mine] == [ts // 300 for ts in expected]
        assert mine == m.readings(first, 300, 288, first // 300)
    assert all(len(orjson.loads(payload)) <= 100 for _, _, payload in sink.sent)


def test_live_readings_go_one_per_message_once_their_interval_ends() -> None:
    fleet = synthetic_fleet(1, 2, seed=1, timezone="America/Mexico_City")
    published, sink = run(fleet, back_s=0, count=3)
    assert published == 3
    assert all(payload.startswith(b"{") for _, _, payload in sink.sent)
    timestamps = sorted({r.ts for _, r in sink.readings()})
    first = int(WALL) // 300 * 300 + 300
    assert timestamps == [first, first + 300, first + 600]
    assert all(at >= reading.ts for at, reading in sink.readings())


def test_a_replay_runs_at_speed_and_never_publishes_the_future() -> None:
    fleet = synthetic_fleet(1, 1, seed=1, timezone="America/Mexico_City")
    timeline = replay_clock(WALL, 3600, 60)
    published, sink = run(fleet, back_s=3600, speed=60, count=14)
    assert published == 14
    for at, reading in sink.readings():
        assert at >= timeline.wall_at(reading.ts)
        assert reading.ts <= at
    # The first hour replays in a minute; the last readings wait for the wall clock.
    assert sink.readings()[0][0] < WALL + 10
    assert sink.readings()[-1][0] >= sink.readings()[-1][1].ts


def test_stop_ends_the_loop_between_messages() -> None:
    fleet = synthetic_fleet(1, 3, seed=1, timezone="America/Mexico_City")
    published, sink = run(fleet, back_s=86400, batch_size=10, stop_after=7)
    assert len(sink.sent) == 7
    assert published == 20  # two whole rounds of 10 readings per meter; the third was cut


@pytest.mark.parametrize("kind", ["furnace", "press"])
def test_the_largest_batch_fits_in_one_message(kind: str) -> None:
    m = SimulatedMeter(
        "plant-with-a-long-name-00000000001",
        f"{kind}-with-a-long-name-0001",
        default_profile(f"{kind}-1"),
        "Europe/Berlin",
        0,
        "DE",
    )
    payload = encode_readings(m.readings(int(WALL) // 300 * 300, 300, 1000, 10**9))
    assert len(payload) < MAX_PAYLOAD_BYTES


def test_at_speed_one_simulated_time_is_the_wall_clock() -> None:
    timeline = replay_clock(WALL, 30 * 86400, 1.0)
    assert timeline.at(WALL) == WALL
    assert timeline.wall_at(WALL + 300) == WALL + 300


class SlowSink(RecordingSink):
    """Each publish takes a second of (fake) wall time, as a broker under a backfill does."""

    def publish(self, topic: str, payload: bytes) -> None:
        super().publish(topic, payload)
        self.clock.now += 1.0


def test_a_backfill_reports_progress_then_says_when_it_is_live(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kilowatch.simulator.settings import duration_text

    clock = FakeClock(WALL)
    fleet = synthetic_fleet(1, 2, seed=1, timezone="UTC")
    sink = SlowSink(clock)
    stop = threading.Event()
    with caplog.at_level("INFO", logger="kilowatch.simulator.publisher"):
        published = publish_fleet(
            fleet,
            sink,
            replay_clock(WALL, 2 * 86400, 1.0),
            history_from=WALL - 2 * 86400,
            interval_s=300,
            batch_size=24,
            topic_prefix="kilowatch",
            stop=stop,
            count=2 * 288 + 1,
            log_interval_s=60,
            clock=clock,
            sleep=clock.sleep,
        )
    assert published == 2 * 288 + 1
    messages = [record.getMessage() for record in caplog.records]
    progress = [m for m in messages if m.startswith("backfill ") and "%" in m]
    assert progress and progress[0].startswith("backfill ") and " %: readings up to " in progress[0]
    done = [m for m in messages if m.startswith("backfill done: ")]
    assert len(done) == 1 and "now live, a reading per meter every 300 s" in done[0]
    assert messages.index(done[0]) > messages.index(progress[-1])
    assert (duration_text(7_776_000), duration_text(5400), duration_text(0)) == (
        "90d",
        "1h30m",
        "0s",
    )
