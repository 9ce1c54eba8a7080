"""Time for the agent and the simulator: poll slots, and the wall clock or an accelerated one."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol


def slot_at(now: float, interval_s: int) -> int:
    """The latest interval end (multiple of the interval) at or before `now`."""
    return math.floor(now / interval_s) * interval_s


def next_slot(now: float, interval_s: int) -> int:
    """The first interval end strictly after `now`."""
    return slot_at(now, interval_s) + interval_s


def due_count(next_end: int, now: float, interval_s: int) -> int:
    """How many interval ends, from next_end on, are at or before `now`."""
    last = slot_at(now, interval_s)
    return 0 if last < next_end else (last - next_end) // interval_s + 1


class Clock(Protocol):
    """Process time (Unix seconds) and how long a stretch of it lasts in real seconds."""

    def now(self) -> float: ...

    def real_seconds(self, seconds: float) -> float: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    def real_seconds(self, seconds: float) -> float:
        return seconds


@dataclass(frozen=True, slots=True)
class AcceleratedClock:
    """Time that was `start` at real time `anchor` and runs `speed` times faster, until it
    catches up with the wall clock, which it then follows: readings are never from the future
    (the bridge refuses those). With start == anchor and speed 1 it is the wall clock.

    The anchor is a real Unix time, not process start, so a process killed and restarted with
    the same settings keeps the same timeline (time never goes backwards across restarts).
    """

    start: float
    speed: float
    anchor: float

    def at(self, wall: float) -> float:
        """This clock's time at wall-clock time `wall`."""
        return min(self.start + (wall - self.anchor) * self.speed, wall)

    def now(self) -> float:
        return self.at(time.time())

    def wall_at(self, moment: float) -> float:
        """The earliest wall-clock time at which this clock reaches `moment`."""
        return max(self.anchor + (moment - self.start) / self.speed, moment)

    def real_seconds(self, seconds: float) -> float:
        """Real seconds for `seconds` of this clock from now."""
        if self.now() >= time.time() - seconds:
            return seconds  # caught up (or about to): real time from here on
        return seconds / self.speed
