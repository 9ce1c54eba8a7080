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
from kilowatch.contract import MAX_PAYLOAD_BYTES
from kilowatch.contract.receipts import with_agent

# AWS IoT Core refuses a publish whose payload is over 128 KB (the contract and our Mosquitto
# allow 256 KiB): every message stays under both, so one agent works with either broker.
IOT_CORE_MAX_PAYLOAD_BYTES = 128 * 1024
# Room left in a payload for the `agent` field and the array's brackets and commas.
MAX_BATCH_BODY_BYTES = min(MAX_PAYLOAD_BYTES, IOT_CORE_MAX_PAYLOAD_BYTES) - 2048


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

    def payload(self, agent: str | None = None) -> bytes:
        """The contract payload: the object for one reading, an array for several; naming the
        agent (in the first reading) asks the bridge for a receipt."""
        first = self.rows[0].body if agent is None else with_agent(self.rows[0].body, agent)
        if len(self.rows) == 1:
            return first
        return b"[" + b",".join([first, *(row.body for row in self.rows[1:])]) + b"]"


def plan_batches(
    rows: Sequence[PendingRow],
    batch_readings: int,
    skip_ids: Collection[int] = (),
    max_bytes: int = MAX_BATCH_BODY_BYTES,
) -> list[Batch]:
    """Group rows (oldest first) into per-meter batches of at most `batch_readings` readings
    and `max_bytes` of JSON (the contract's payload limit, which the broker enforces too).

    Batches come out ordered by their oldest reading, so the drain stays oldest-first while
    each message carries as many readings as the window holds for its meter.
    """
    by_meter: dict[str, list[PendingRow]] = {}
    for row in rows:
        if row.id not in skip_ids:
            by_meter.setdefault(row.meter, []).append(row)
    batches = [
        Batch(meter, chunk)
        for meter, meter_rows in by_meter.items()
        for chunk in _chunks(meter_rows, batch_readings, max_bytes)
    ]
    batches.sort(key=lambda batch: (batch.oldest_ts, batch.rows[0].id))
    return batches


def _chunks(rows: list[PendingRow], count: int, max_bytes: int) -> list[tuple[PendingRow, ...]]:
    """Consecutive runs of at most `count` rows and `max_bytes` of bodies (one row at least)."""
    out: list[tuple[PendingRow, ...]] = []
    start, size = 0, 0
    for i, row in enumerate(rows):
        length = len(row.body) + 1
        if i > start and (i - start >= count or size + length > max_bytes):
            out.append(tuple(rows[start:i]))
            start, size = i, 0
        size += length
    if start < len(rows):
        out.append(tuple(rows[start:]))
    return out


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
