"""When to poll: on multiples of the interval on the wall clock (12:00:00, 12:05:00, ...)."""

from __future__ import annotations

import math


def slot_at(now: float, interval_s: int) -> int:
    """The latest poll time at or before `now`."""
    return math.floor(now / interval_s) * interval_s


def next_slot(now: float, interval_s: int) -> int:
    """The first poll time strictly after `now`."""
    return slot_at(now, interval_s) + interval_s
