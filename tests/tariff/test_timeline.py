from __future__ import annotations

import numpy as np

from kilowatch.tariff.days import WallChanges
from kilowatch.tariff.timeline import build, first_instant, join

# A toy wall clock: a change every 100 s (periods 0, 1, 0, 1, ... at rates 1, 2, 1, 2, ...).
CHANGES = WallChanges(
    wall_s=np.arange(0, 2000, 100, dtype=np.int64),
    period=np.arange(20, dtype=np.intp) % 2,
    rate=np.arange(20, dtype=np.float64) % 2 + 1,
)


def test_constant_offset_shifts_every_change() -> None:
    line = build(CHANGES, np.array([0]), np.array([50]), 0, 300)
    # wall = utc + 50: changes at wall 100, 200, 300 fall at utc 50, 150, 250.
    assert line.bounds.tolist() == [0, 50, 150, 250, 300]
    assert line.period.tolist() == [0, 1, 0, 1]


def test_a_jump_forward_skips_the_changes_it_jumps_over() -> None:
    # From utc 500 the offset grows by 250: wall jumps from 500 to 750.
    line = build(CHANGES, np.array([0, 500]), np.array([0, 250]), 300, 900)
    # wall 300..500 then 750..1150: changes at 400, then 800, 900, 1000, 1100 (utc 550..850).
    assert line.bounds.tolist() == [300, 400, 500, 550, 650, 750, 850, 900]
    assert line.period.tolist() == [1, 0, 1, 0, 1, 0, 1]


def test_a_jump_back_repeats_changes() -> None:
    # From utc 500 the offset drops by 250: wall goes back from 500 to 250.
    line = build(CHANGES, np.array([0, 500]), np.array([0, -250]), 300, 800)
    # wall 300..500: change at 400 (utc 400). Then wall 250..550: period 0 goes on (wall 250 is
    # in the 200 range, as wall 400-500 was), changes at wall 300, 400, 500 (utc 550, 650, 750).
    assert line.bounds.tolist() == [300, 400, 550, 650, 750, 800]
    assert line.period.tolist() == [1, 0, 1, 0, 1]


def test_equal_neighbours_are_one_segment() -> None:
    flat = WallChanges(CHANGES.wall_s, np.zeros(20, dtype=np.intp), np.ones(20))
    line = build(flat, np.array([0]), np.array([0]), 0, 1000)
    assert line.bounds.tolist() == [0, 1000]


def test_first_instant_at_or_after_a_wall_time() -> None:
    froms, offs = np.array([0, 500]), np.array([0, 250])
    assert first_instant(300, froms, offs, 1000) == 300
    assert first_instant(600, froms, offs, 1000) == 500  # wall 600 is skipped: the jump
    assert first_instant(800, froms, offs, 1000) == 550


def test_join() -> None:
    a = build(CHANGES, np.array([0]), np.array([0]), 0, 200)
    b = build(CHANGES, np.array([0]), np.array([0]), 200, 400)
    joined = join([a, b])
    assert joined.bounds.tolist() == [0, 100, 200, 300, 400]
    assert joined.rate.tolist() == [1.0, 2.0, 1.0, 2.0]
