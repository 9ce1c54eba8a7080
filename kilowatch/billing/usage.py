"""What a meter (or plant) used in a billing period, summed so that pricing needs nothing else.

Every sum is linear in the readings' energy, so usages add up (meters into a plant) and a
reading can be taken back out by adding it with negated energy: the running bill relies on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from kilowatch.billing.periods import BillingPeriod
from kilowatch.tariff import PlantTariff

# Energy is summed in buckets this long when the tariff has no demand charge (any size works).
DEFAULT_BUCKET_S = 900


@dataclass(frozen=True, slots=True)
class Usage:
    """One billing period's energy by TOU period, reactive energy and energy per time bucket."""

    kwh: np.ndarray  # (periods,) kWh in each TOU period
    pretax: np.ndarray  # (periods,) that energy at the schedule's rates, before tax
    kvarh: float  # reactive energy of the readings that carry it
    kwh_with_kvarh: float  # active energy of those same readings
    bucket_start: np.ndarray  # int64, sorted: Unix s of each bucket holding energy
    bucket_kwh: np.ndarray  # float64, the energy in it
    readings: int

    @property
    def total_kwh(self) -> float:
        return float(self.kwh.sum())

    @classmethod
    def empty(cls, n_periods: int) -> Usage:
        return cls(
            np.zeros(n_periods),
            np.zeros(n_periods),
            0.0,
            0.0,
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            0,
        )

    def scaled(self, factor: float) -> Usage:
        """This usage with its energy (and its cost and reactive sums) times `factor`; the
        energy buckets stay as they are, so a projection made with it sets no new peak."""
        return replace(
            self,
            kwh=self.kwh * factor,
            pretax=self.pretax * factor,
            kvarh=self.kvarh * factor,
            kwh_with_kvarh=self.kwh_with_kvarh * factor,
        )

    def __add__(self, other: Usage) -> Usage:
        starts, kwh = sum_buckets(
            [(self.bucket_start, self.bucket_kwh), (other.bucket_start, other.bucket_kwh)]
        )
        return Usage(
            self.kwh + other.kwh,
            self.pretax + other.pretax,
            self.kvarh + other.kvarh,
            self.kwh_with_kvarh + other.kwh_with_kvarh,
            starts,
            kwh,
            self.readings + other.readings,
        )


def sum_buckets(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(bucket starts, kWh) parts summed into one: sorted starts, each once."""
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    starts, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    kwh = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]), minlength=len(starts))
    return starts.astype(np.int64, copy=False), kwh


def bucket_seconds(plant: PlantTariff) -> int:
    """The bucket size of a tariff: the demand step (window or sliding step)."""
    demand = plant.tariff.billing.demand
    return demand.step_s if demand is not None else DEFAULT_BUCKET_S


@dataclass(frozen=True, slots=True)
class Pieces:
    """Readings cut at bucket edges; energy shared out by time."""

    start: np.ndarray
    end: np.ndarray
    kwh: np.ndarray
    kvarh: np.ndarray  # NaN where the reading carries none


def cut(
    ts_end: np.ndarray, interval_s: np.ndarray, kwh: np.ndarray, kvarh: np.ndarray, step: int
) -> Pieces:
    """Cut each reading where it crosses a multiple of `step` seconds (vectorised)."""
    start = ts_end - interval_s
    first = start // step
    last = (ts_end - 1) // step
    if not np.any(last > first):
        return Pieces(start, ts_end, kwh, kvarh)
    counts = last - first + 1
    owner = np.repeat(np.arange(len(start)), counts)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    bucket = first[owner] + offset
    piece_start = np.maximum(bucket * step, start[owner])
    piece_end = np.minimum((bucket + 1) * step, ts_end[owner])
    fraction = (piece_end - piece_start) / interval_s[owner]
    return Pieces(piece_start, piece_end, kwh[owner] * fraction, kvarh[owner] * fraction)


def usage_by_period(
    plant: PlantTariff,
    periods: Sequence[BillingPeriod],
    ts_end: np.ndarray,
    interval_s: np.ndarray,
    energy_kwh: np.ndarray,
    reactive_kvarh: np.ndarray | None = None,
) -> list[Usage]:
    """The usage of each billing period (consecutive, in order) from readings in any order.

    A reading is spread evenly over its interval; the part of it in a bucket belongs to the
    billing period holding the bucket's start.
    """
    n_periods = len(plant.periods)
    ts_end = np.asarray(ts_end, dtype=np.int64)
    interval_s = np.asarray(interval_s, dtype=np.int64)
    energy_kwh = np.asarray(energy_kwh, dtype=np.float64)
    kvarh = (
        np.full(len(ts_end), np.nan)
        if reactive_kvarh is None
        else np.asarray(reactive_kvarh, dtype=np.float64)
    )
    if not len(ts_end) or not periods:
        return [Usage.empty(n_periods) for _ in periods]
    step = bucket_seconds(plant)
    pieces = cut(ts_end, interval_s, energy_kwh, kvarh, step)
    bounds = np.array([p.start_ts for p in periods] + [periods[-1].end_ts], dtype=np.int64)
    which = np.searchsorted(bounds, pieces.start, side="right") - 1
    inside = (which >= 0) & (which < len(periods))
    if not inside.all():
        pieces = Pieces(*(a[inside] for a in (pieces.start, pieces.end, pieces.kwh, pieces.kvarh)))
        which = which[inside]
    owners = len(periods)
    split = plant.split_many(pieces.end, pieces.end - pieces.start)
    kwh = np.stack(
        [np.bincount(which, pieces.kwh * split.share[:, p], owners) for p in range(n_periods)],
        axis=1,
    )
    pretax = np.stack(
        [
            np.bincount(which, pieces.kwh * split.pretax_per_kwh[:, p], owners)
            for p in range(n_periods)
        ],
        axis=1,
    )
    has = ~np.isnan(pieces.kvarh)
    kvarh_sum = np.bincount(which[has], pieces.kvarh[has], owners)
    kwh_with = np.bincount(which[has], pieces.kwh[has], owners)
    keys, inverse = np.unique(pieces.start // step, return_inverse=True)
    bucket_kwh = np.bincount(inverse, pieces.kwh, len(keys))
    starts = keys * step
    # A bucket belongs to the period of its earliest piece (aligned buckets never straddle).
    bucket_period = np.full(len(keys), owners, dtype=np.int64)
    np.minimum.at(bucket_period, inverse, which)
    order = np.argsort(bucket_period, kind="stable")
    starts, bucket_kwh = starts[order], bucket_kwh[order]
    edges = np.searchsorted(bucket_period[order], np.arange(owners + 1))
    counted = np.bincount(
        np.searchsorted(bounds, ts_end - interval_s, side="right") - 1 + 1, minlength=owners + 2
    )[1 : owners + 1]
    return [
        Usage(
            kwh[b],
            pretax[b],
            float(kvarh_sum[b]),
            float(kwh_with[b]),
            starts[edges[b] : edges[b + 1]],
            bucket_kwh[edges[b] : edges[b + 1]],
            int(counted[b]),
        )
        for b in range(owners)
    ]
