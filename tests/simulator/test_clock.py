"""The timeline: real time, or history replayed faster until it meets the wall clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kilowatch.simulator.clock import Timeline, due_count, first_end

WALL = 1_796_000_000.0


def test_at_speed_one_simulated_time_is_the_wall_clock() -> None:
    timeline = Timeline(start=WALL - 30 * 86400, wall_start=WALL)
    assert timeline.now(WALL) == WALL
    assert timeline.wall_at(WALL + 300) == WALL + 300


def test_a_replay_runs_faster_then_follows_the_wall_clock() -> None:
    timeline = Timeline(start=WALL - 86400, wall_start=WALL, speed=60)
    assert timeline.now(WALL) == WALL - 86400
    assert timeline.now(WALL + 10) == WALL - 86400 + 600  # ten seconds: ten simulated minutes
    caught_up = WALL + 86400 / 59  # when start + 60 t == WALL + t
    assert timeline.now(caught_up + 100) == caught_up + 100
    assert timeline.wall_at(WALL - 86400 + 600) == WALL + 10
    assert timeline.wall_at(WALL + 1000) == WALL + 87400 / 60  # the replay gets there first
    assert timeline.wall_at(WALL + 5000) == WALL + 5000  # the wall clock gets there later


@given(st.floats(0, 1e6), st.floats(1, 1e4), st.floats(0, 1e6))
def test_wall_at_is_when_now_gets_there(back: float, speed: float, ahead: float) -> None:
    timeline = Timeline(start=WALL - back, wall_start=WALL, speed=speed)
    target = WALL - back + ahead
    # Wall-clock seconds near 1.8e9 carry ~2e-7 s of rounding, which the replay multiplies.
    assert timeline.now(timeline.wall_at(target)) >= target - 1e-6 * speed


def test_interval_ends() -> None:
    assert first_end(WALL - 86400, 300) % 300 == 0
    assert WALL - 86400 < first_end(WALL - 86400, 300) <= WALL - 86400 + 300
    assert first_end(1200, 300) == 1500  # an interval ending at the start is not after it
    assert due_count(1500, 1499.9, 300) == 0
    assert due_count(1500, 1500, 300) == 1
    assert due_count(1500, 2399, 300) == 3
