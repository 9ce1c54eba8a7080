"""The agent's clock: the wall clock, or an accelerated one for demos and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Agent time (Unix seconds) and how long a stretch of it lasts in real seconds."""

    def now(self) -> float: ...

    def real_seconds(self, agent_seconds: float) -> float: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        return time.time()

    def real_seconds(self, agent_seconds: float) -> float:
        return agent_seconds


@dataclass(frozen=True, slots=True)
class AcceleratedClock:
    """Agent time runs `speed` times faster than real time and was `start` at real time `anchor`,
    until it catches up with the wall clock, which it then follows: readings are never from the
    future (the bridge refuses those).

    The anchor is a real Unix time, not process start, so an agent killed and restarted keeps
    the same timeline (time never goes backwards across restarts).
    """

    start: float
    speed: float
    anchor: float

    def now(self) -> float:
        wall = time.time()
        return min(self.start + (wall - self.anchor) * self.speed, wall)

    def real_seconds(self, agent_seconds: float) -> float:
        if self.now() >= time.time() - agent_seconds:
            return agent_seconds  # caught up (or about to): real time from here on
        return agent_seconds / self.speed
