"""Poll slots on the wall clock, and the accelerated clock: one timeline across restarts,
history replayed faster until it meets the wall clock, never the future."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilowatch import clock as clock_module
from kilowatch.clock import AcceleratedClock, due_count, next_slot, slot_at

WALL = 1_796_000_000.0


def test_slots_are_aligned_to_the_clock() -> None:
    assert slot_at(1_796_000_123.4, 300) == 1_796_000_100
    assert next_slot(1_796_000_123.4, 300) == 1_796_000_400


def test_on_a_slot_the_next_one_is_a_whole_interval_later() -> None:
    assert slot_at(1_796_000_100.0, 300) == 1_796_000_100
    assert next_slot(1_796_000_100.0, 300) == 1_796_000_400


def test_agent_time_runs_speed_times_faster_from_the_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_000_010.0)
    clock = AcceleratedClock(start=900_000.0, speed=600, anchor=1_000_000.0)
    assert clock.now() == 900_000.0 + 10 * 600
    assert clock.real_seconds(300) == 0.5


def test_a_restarted_agent_continues_the_same_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_000_020.0)
    first = AcceleratedClock(start=900_000.0, speed=100, anchor=1_000_000.0)
    again = AcceleratedClock(start=900_000.0, speed=100, anchor=1_000_000.0)
    assert first.now() == again.now() == 902_000.0


def test_agent_time_stops_at_the_wall_clock_then_follows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_000_100.0)
    clock = AcceleratedClock(start=999_000.0, speed=600, anchor=1_000_000.0)
    assert clock.now() == 1_000_100.0
    assert clock.real_seconds(300) == 300


def test_a_replay_runs_faster_then_follows_the_wall_clock() -> None:
    timeline = AcceleratedClock(start=WALL - 86400, speed=60, anchor=WALL)
    assert timeline.at(WALL) == WALL - 86400
    assert timeline.at(WALL + 10) == WALL - 86400 + 600  # ten seconds: ten simulated minutes
    caught_up = WALL + 86400 / 59  # when start + 60 t == WALL + t
    assert timeline.at(caught_up + 100) == caught_up + 100
    assert timeline.wall_at(WALL - 86400 + 600) == WALL + 10
    assert timeline.wall_at(WALL + 1000) == WALL + 87400 / 60  # the replay gets there first
    assert timeline.wall_at(WALL + 5000) == WALL + 5000  # the wall clock gets there later


@given(st.floats(0, 1e6), st.floats(1, 1e4), st.floats(0, 1e6))
def test_wall_at_is_when_the_clock_gets_there(back: float, speed: float, ahead: float) -> None:
    timeline = AcceleratedClock(start=WALL - back, speed=speed, anchor=WALL)
    target = WALL - back + ahead
    # Wall-clock seconds near 1.8e9 carry ~2e-7 s of rounding, which the replay multiplies.
    assert timeline.at(timeline.wall_at(target)) >= target - 1e-6 * speed


def test_interval_ends() -> None:
    assert next_slot(WALL - 86400, 300) % 300 == 0
    assert WALL - 86400 < next_slot(WALL - 86400, 300) <= WALL - 86400 + 300
    assert next_slot(1200, 300) == 1500  # an interval ending at the start is not after it
    assert due_count(1500, 1499.9, 300) == 0
    assert due_count(1500, 1500, 300) == 1
    assert due_count(1500, 2399, 300) == 3
