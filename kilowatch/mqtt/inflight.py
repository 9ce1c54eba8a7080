"""QoS 1 publishes awaiting their PUBACK, by message id, with what each one carries.

Shared by the agent (each message carries the SQLite row ids it holds) and the simulator (a
bound on messages in flight). Thread-safe: paho's network thread acknowledges, another thread
publishes and waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_WAIT_SLICE_S = 0.5  # how often a wait looks at its stop event


class InFlight(Generic[T]):
    """Messages published with QoS 1 and not yet acknowledged.

    paho may report a PUBACK before publish() has returned its message id; with
    `early_acks` such an acknowledgement is kept until the message is recorded. Without it,
    acknowledgements of unrecorded messages (untracked publishes) are ignored.
    """

    def __init__(self, *, early_acks: bool = False) -> None:
        self._changed = threading.Condition()
        self._waiting: dict[int, T] = {}
        self._early: set[int] | None = set() if early_acks else None
        self.published = 0
        self.acknowledged = 0

    def sent(self, mid: int, carried: T) -> None:
        """Record a published message (its id from paho) and what it carries."""
        with self._changed:
            self.published += 1
            if self._early is not None and mid in self._early:
                self._early.discard(mid)
                self.acknowledged += 1
                self._changed.notify_all()
            else:
                self._waiting[mid] = carried

    def acked(self, mid: int) -> T | None:
        """A PUBACK came: what the message carried, None if it was not recorded (yet)."""
        with self._changed:
            if mid not in self._waiting:
                if self._early is not None:
                    self._early.add(mid)
                return None
            self.acknowledged += 1
            self._changed.notify_all()
            return self._waiting.pop(mid)

    def __len__(self) -> int:
        with self._changed:
            return len(self._waiting)

    def carried(self) -> list[T]:
        """What every message in flight carries."""
        with self._changed:
            return list(self._waiting.values())

    def wait_below(self, limit: int, stop: threading.Event) -> bool:
        """Block until fewer than `limit` messages are in flight; False if `stop` came first."""
        return self._wait(lambda: len(self._waiting) < limit, stop, None)

    def wait_empty(self, timeout_s: float, abort: threading.Event) -> int:
        """Wait up to timeout_s (or until `abort`) for every PUBACK; how many are missing."""
        self._wait(lambda: not self._waiting, abort, time.monotonic() + timeout_s)
        return len(self)

    def _wait(
        self, done: Callable[[], bool], stop: threading.Event, deadline: float | None
    ) -> bool:
        with self._changed:
            while not done():
                if stop.is_set():
                    return False
                remaining = _WAIT_SLICE_S if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, _WAIT_SLICE_S))
            return True
