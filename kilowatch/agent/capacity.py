"""The disk cap: when the backlog is too big or too old, what the agent does (pure).

Two limits, each optional:
- size (max_mb): on_full=pause stops storing new readings until the backlog drains below
  `resume_fraction` of the cap. No energy is lost: the meters' cumulative registers keep
  counting and the first reading after the pause covers the whole gap (only the 5-minute
  profile inside the gap is lost). on_full=drop_oldest deletes the oldest readings instead,
  down to `resume_fraction` of the cap, and keeps polling (recent data matters most).
- age (max_age_days): readings older than that are deleted, whatever on_full says.
Either way the agent logs an error and its status says storage_full and readings_dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from kilowatch.agent.store import StoreStats

OnFull = Literal["pause", "drop_oldest"]


@dataclass(frozen=True, slots=True)
class DiskCap:
    """The limits; None means no limit of that kind."""

    max_bytes: int | None
    max_age_s: int | None
    on_full: OnFull = "pause"
    resume_fraction: float = 0.9


@dataclass(frozen=True, slots=True)
class CapAction:
    """What to do now: delete old readings, delete the oldest N, and whether to pause polling."""

    expire_before_ts: int | None = None
    drop_count: int = 0
    paused: bool = False
    full: bool = False


def assess(stats: StoreStats, cap: DiskCap, now: float, paused: bool) -> CapAction:
    """Apply the cap to the store's current size; `paused` is whether polling is paused now."""
    expire = None
    if cap.max_age_s is not None and stats.oldest_ts is not None:
        limit = int(now) - cap.max_age_s
        if stats.oldest_ts < limit:
            expire = limit
    if cap.max_bytes is None:
        return CapAction(expire_before_ts=expire)
    full = stats.used_bytes >= cap.max_bytes
    below_resume = stats.used_bytes < cap.resume_fraction * cap.max_bytes
    if cap.on_full == "pause":
        still_paused = full or (paused and not below_resume)
        return CapAction(expire_before_ts=expire, paused=still_paused, full=full)
    drop = 0
    if full and stats.pending:
        # Rows are of similar size, so the share of rows to drop is the share of bytes over target.
        target = cap.resume_fraction * cap.max_bytes
        drop = math.ceil(stats.pending * (1 - target / stats.used_bytes))
        drop = min(stats.pending, max(1, drop))
    return CapAction(expire_before_ts=expire, drop_count=drop, full=full)
