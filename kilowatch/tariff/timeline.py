"""A plant's tariff on the UTC axis: consecutive segments of constant period and rate.

The rate at an instant is the one the schedule gives for the plant's local wall-clock time then.
Between two UTC-offset changes wall time runs with UTC, so each wall-clock range start maps to
one UTC instant. Where clocks jump forward, starts in the skipped hour fall on the jump; where
they fall back, the repeated hour repeats its periods. Every second belongs to one segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kilowatch.tariff.days import WallChanges


@dataclass(frozen=True, slots=True)
class Timeline:
    """Segments [bounds[i], bounds[i + 1]) in Unix seconds, each of one period and pre-tax rate."""

    bounds: np.ndarray  # int64, one more than segments
    period: np.ndarray  # intp
    rate: np.ndarray  # float64

    @property
    def start(self) -> int:
        return int(self.bounds[0])

    @property
    def end(self) -> int:
        return int(self.bounds[-1])

    def segment(self, ts: np.ndarray | int) -> np.ndarray:
        """Index of the segment holding each instant (which must lie in [start, end))."""
        return np.searchsorted(self.bounds, ts, side="right") - 1


def first_instant(wall_s: int, froms: np.ndarray, offs: np.ndarray, end: int) -> int:
    """The first Unix second whose local wall time is at or after `wall_s`."""
    for i, offset in enumerate(offs.tolist()):
        start = int(froms[i])
        stop = int(froms[i + 1]) if i + 1 < len(froms) else end
        if start + offset >= wall_s:
            return start
        if stop + offset > wall_s:
            return wall_s - offset
    raise ValueError("wall time beyond the probed span")  # callers probe a span with margin


def build(changes: WallChanges, froms: np.ndarray, offs: np.ndarray, lo: int, hi: int) -> Timeline:
    """The segments over [lo, hi), from wall-clock range starts and the offsets in force.

    `changes` must start before, and end after, every wall time the span shows.
    """
    bounds, picks = [], []
    for i, offset in enumerate(offs.tolist()):
        start = max(int(froms[i]), lo)
        stop = min(int(froms[i + 1]) if i + 1 < len(froms) else hi, hi)
        if start >= stop:
            continue
        first = int(np.searchsorted(changes.wall_s, start + offset, side="right")) - 1
        after = int(np.searchsorted(changes.wall_s, stop + offset, side="left"))
        if first < 0 or after >= len(changes.wall_s):
            raise ValueError("wall-clock changes do not cover the span")  # margin is the caller's
        picked = np.arange(first, after)
        here = changes.wall_s[picked] - offset
        here[0] = start
        bounds.append(here)
        picks.append(picked)
    bounds.append(np.array([hi], dtype=np.int64))
    edges = np.concatenate(bounds)
    chosen = np.concatenate(picks)
    period, rate = changes.period[chosen], changes.rate[chosen]
    # Neighbours with the same period and rate (midnights, offset changes) are one segment.
    keep = np.ones(len(chosen), dtype=bool)
    keep[1:] = (period[1:] != period[:-1]) | (rate[1:] != rate[:-1])
    return Timeline(np.append(edges[:-1][keep], hi), period[keep], rate[keep])


def join(parts: list[Timeline]) -> Timeline:
    """Consecutive timelines (each ending where the next starts) as one."""
    if len(parts) == 1:
        return parts[0]
    return Timeline(
        np.concatenate([p.bounds[:-1] for p in parts] + [parts[-1].bounds[-1:]]),
        np.concatenate([p.period for p in parts]),
        np.concatenate([p.rate for p in parts]),
    )
