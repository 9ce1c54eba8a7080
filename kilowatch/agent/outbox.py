"""The backlog policy: which stored readings go out in which message, and how fast.

Pure: rows and times in, batches and waits out. Live readings (this poll's) bypass all of this
and go out at once; the backlog drains oldest-first in per-meter arrays (a topic is per meter)
of up to `batch_readings`, at no more than `rate_readings_per_s`, so a fleet of agents coming
back online together does not flatten the broker.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from kilowatch.agent.store import PendingRow


@dataclass(frozen=True, slots=True)
class Batch:
    """One message: readings of one meter, oldest first."""

    meter: str
    rows: tuple[PendingRow, ...]

    @property
    def oldest_ts(self) -> int:
        return self.rows[0].ts

    @property
    def ids(self) -> list[int]:
        return [row.id for row in self.rows]

    def payload(self) -> bytes:
        """The contract payload: the object for one reading, an array for several."""
        if len(self.rows) == 1:
            return self.rows[0].body
        return b"[" + b",".join(row.body for row in self.rows) + b"]"


def plan_batches(
    rows: Sequence[PendingRow], batch_readings: int, skip_ids: Collection[int] = ()
) -> list[Batch]:
    """Group rows (oldest first) into per-meter batches of at most `batch_readings`.

    Batches come out ordered by their oldest reading, so the drain stays oldest-first while
    each message carries as many readings as the window holds for its meter.
    """
    by_meter: dict[str, list[PendingRow]] = {}
    for row in rows:
        if row.id not in skip_ids:
            by_meter.setdefault(row.meter, []).append(row)
    batches = [
        Batch(meter, tuple(meter_rows[start : start + batch_readings]))
        for meter, meter_rows in by_meter.items()
        for start in range(0, len(meter_rows), batch_readings)
    ]
    batches.sort(key=lambda batch: (batch.oldest_ts, batch.rows[0].id))
    return batches


class TokenBucket:
    """At most `rate` readings per second on average, bursts up to `capacity` readings.

    It starts empty, and reset() empties it: an agent that (re)connects sends its backlog at
    the rate from the start, not in a burst all its peers would send at the same moment.
    """

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be > 0")
        self.rate = rate
        self.capacity = capacity
        self._tokens = 0.0
        self._at = now

    def reset(self, now: float) -> None:
        """Empty the bucket (on connect)."""
        self._tokens = 0.0
        self._at = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def wait_s(self, amount: float, now: float) -> float:
        """Seconds until `amount` readings may be sent (0: now)."""
        self._refill(now)
        needed = min(amount, self.capacity) - self._tokens
        return max(0.0, needed / self.rate)

    def take(self, amount: float, now: float) -> None:
        """Spend tokens for `amount` readings (may go negative: the next wait pays it back)."""
        self._refill(now)
        self._tokens -= amount
