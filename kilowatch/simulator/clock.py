"""Simulated time against the wall clock, and which interval ends are due: pure arithmetic."""

from __future__ import annotations

from dataclasses import dataclass

from kilowatch.agent.schedule import next_slot, slot_at


@dataclass(frozen=True, slots=True)
class Timeline:
    """Simulated time: history from `start` replayed `speed` times faster, then the wall clock.

    At speed 1 simulated time is the wall clock from the outset, so every reading since `start`
    is due at once (a backfill as fast as the broker takes it). Above 1 the replay runs at
    `speed` until it catches up with the wall clock, then follows it: readings are never from
    the future.
    """

    start: float  # simulated time when the run began (Unix seconds)
    wall_start: float  # wall clock when the run began
    speed: float = 1.0

    def now(self, wall: float) -> float:
        """Simulated time at wall-clock time `wall`."""
        if self.speed == 1.0:
            return wall
        return min(self.start + (wall - self.wall_start) * self.speed, wall)

    def wall_at(self, simulated: float) -> float:
        """The earliest wall-clock time at which simulated time reaches `simulated`."""
        if self.speed == 1.0:
            return simulated
        return max(self.wall_start + (simulated - self.start) / self.speed, simulated)


def first_end(start: float, interval_s: int) -> int:
    """The end of the first whole interval after `start` (ends are multiples of the interval)."""
    return next_slot(start, interval_s)


def due_count(next_end: int, now: float, interval_s: int) -> int:
    """How many interval ends, from next_end on, are at or before `now`."""
    last = slot_at(now, interval_s)
    return 0 if last < next_end else (last - next_end) // interval_s + 1
