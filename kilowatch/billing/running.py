"""The running bill: each meter's and plant's bill so far, updated reading by reading (pure).

Every sum is linear in energy, so a reading that arrives late is simply added, and a reading
sent again with other values replaces the first (taken back out with negated energy): the
result never depends on arrival order. The readings of the kept billing periods are the
state; `state()` / `from_state()` persist it and `rebuild()` restores it from stored readings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kilowatch.billing.bill import Bill
from kilowatch.billing.compute import lookback_months, through_ts_for
from kilowatch.billing.errors import BillingError
from kilowatch.billing.periods import (
    BillingPeriod,
    parse_period,
    period_containing,
    periods_between,
    shifted,
)
from kilowatch.billing.pricing import peaks, price, window_demand
from kilowatch.billing.usage import Usage, sum_buckets, usage_by_period
from kilowatch.tariff import PlantTariff

PLANT_SCOPE = "plant"  # tag scope of a plant's (account's) bill
METER_SCOPE = "meter"  # tag scope of one meter's bill alone
STATE_VERSION = 1
KWH_DECIMALS = 3  # kWh and kW in `billing` points: to the Wh and the W, as the bill shows them
POWER_FACTOR_DECIMALS = 4
# A reading: (interval_s, energy_kwh, reactive_kvarh or NaN), keyed by its ts.
Stored = tuple[int, float, float]


@dataclass(frozen=True, slots=True)
class BillingPoint:
    """One point of measurement `billing` (see kilowatch/billing/README.md), as data; laid out
    by kilowatch.influx.schema.billing_line."""

    tags: dict[str, str]
    fields: dict[str, float | int]
    ts: int  # Unix seconds: when the bill so far was computed


Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # ts, interval, kWh, kvarh


def _take(columns: Columns, rows: np.ndarray) -> Columns:
    """The given rows (indices or a mask) of every column."""
    ts, length, kwh, kvarh = columns
    return ts[rows], length[rows], kwh[rows], kvarh[rows]


class _Seen:
    """One meter's kept readings as columns sorted by ts, merged from parts when read.

    Columns, not a dict by ts: a batch of new readings is kept without a loop in Python, and
    the garbage collector has no object per reading to track (with a tuple per reading, its
    passes took a fifth of the bridge's time).
    """

    __slots__ = ("_parts", "newest")

    def __init__(self) -> None:
        self._parts: list[Columns] = []  # each sorted by ts, no ts in two parts
        self.newest: int | None = None

    def columns(self) -> Columns:
        if not self._parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        if len(self._parts) > 1:
            ts, length, kwh, kvarh = (np.concatenate(c) for c in zip(*self._parts, strict=True))
            self._parts = [_take((ts, length, kwh, kvarh), np.argsort(ts, kind="stable"))]
        return self._parts[0]

    def all_new(self, ts: np.ndarray) -> bool:
        """No ts repeated, and none kept already."""
        increasing = bool((ts[1:] > ts[:-1]).all())  # the usual case, and then none repeats
        if not increasing and len(np.unique(ts)) != len(ts):
            return False
        if self.newest is None or ts.min() > self.newest:
            return True
        return not np.isin(ts, self.columns()[0]).any()

    def add(self, rows: Columns) -> None:
        """Keep these readings (of ts none kept has)."""
        ts = rows[0]
        if not (ts[1:] > ts[:-1]).all():
            rows = _take(rows, np.argsort(ts, kind="stable"))
        self._parts.append(rows)
        newest = int(ts.max())
        self.newest = newest if self.newest is None else max(self.newest, newest)

    def replace(self, rows: Columns) -> None:
        """Keep these readings instead of any kept at the same ts."""
        kept = self.columns()
        self._parts = [_take(kept, ~np.isin(kept[0], rows[0]))]
        self.add(rows)

    def get_many(self, ts: list[int]) -> dict[int, Stored]:
        """The kept readings at these ts."""
        kept = self.columns()
        wanted = np.asarray(ts, dtype=np.int64)
        at = np.searchsorted(kept[0], wanted)
        found = at < len(kept[0])
        found[found] = kept[0][at[found]] == wanted[found]
        _, length, kwh, kvarh = _take(kept, at[found])
        rows = zip(length.tolist(), kwh.tolist(), kvarh.tolist(), strict=True)
        return dict(zip(wanted[found].tolist(), rows, strict=True))

    def items(self) -> list[tuple[int, Stored]]:
        """The readings in ts order."""
        ts, length, kwh, kvarh = self.columns()
        rows = zip(length.tolist(), kwh.tolist(), kvarh.tolist(), strict=True)
        return list(zip(ts.tolist(), rows, strict=True))

    def last_until(self, start_ts: int, end_ts: int) -> int | None:
        """The ts of the newest kept reading ending in (start_ts, end_ts], if any."""
        ts = self.columns()[0]
        at = int(np.searchsorted(ts, end_ts, side="right"))
        return int(ts[at - 1]) if at and ts[at - 1] > start_ts else None

    def forget_until(self, limit: int) -> None:
        """Drop the readings ending at or before `limit`."""
        kept = self.columns()
        keep = kept[0] > limit
        if not keep.all():
            self._parts = [_take(kept, keep)]


@dataclass(slots=True)
class _Sums:
    """A billing period's running sums for one meter (a mutable Usage)."""

    kwh: np.ndarray
    pretax: np.ndarray
    kvarh: float = 0.0
    kwh_with_kvarh: float = 0.0
    # Energy by bucket, as (bucket starts, kWh) parts summed only when read: adding is then a
    # list append, not a loop over every bucket.
    bucket_parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    readings: int = 0

    def add(self, usage: Usage, sign: int) -> None:
        self.kwh += usage.kwh
        self.pretax += usage.pretax
        self.kvarh += usage.kvarh
        self.kwh_with_kvarh += usage.kwh_with_kvarh
        if usage.bucket_start.size:
            self.bucket_parts.append((usage.bucket_start, usage.bucket_kwh))
        self.readings += sign * usage.readings

    def usage(self) -> Usage:
        if len(self.bucket_parts) != 1:
            self.bucket_parts = [sum_buckets(self.bucket_parts)]
        starts, kwh = self.bucket_parts[0]
        return Usage(
            self.kwh.copy(),
            self.pretax.copy(),
            self.kvarh,
            self.kwh_with_kvarh,
            starts.astype(np.int64, copy=True),
            kwh.astype(np.float64, copy=True),
            self.readings,
        )


class RunningBill:
    """Bills so far of one plant and each of its meters, for the current billing period."""

    def __init__(self, plant: PlantTariff, plant_id: str) -> None:
        self.plant = plant
        self.plant_id = plant_id
        self._read_day = plant.tariff.billing.read_day
        self._keep = lookback_months(plant) + 1  # earlier periods kept (ratchets, late data)
        self._seen: dict[str, _Seen] = {}
        self._sums: dict[tuple[str, str], _Sums] = {}  # (meter, period label)
        self._periods: dict[str, BillingPeriod] = {}
        self._dirty: set[str] = set()
        self._kept_from: int | None = None  # readings before this ts were pruned...
        self._late = False  # ...unless one came since

    def add(
        self,
        meter: str,
        ts_end: int,
        interval_s: int,
        energy_kwh: float,
        reactive_kvarh: float | None = None,
    ) -> None:
        """Count one reading (late, repeated or out of order: all fine)."""
        kvarh = None if reactive_kvarh is None else [reactive_kvarh]
        self.add_many(meter, [ts_end], [interval_s], [energy_kwh], kvarh)

    def add_many(
        self,
        meter: str,
        ts_end: Iterable[int],
        interval_s: Iterable[int],
        energy_kwh: Iterable[float],
        reactive_kvarh: Iterable[float | None] | None = None,
    ) -> None:
        """Count a batch of one meter's readings; a ts seen before replaces the earlier one.

        Lists or numpy arrays; None among the reactive energies means none was measured.
        """
        ts = np.asarray(ts_end, dtype=np.int64)
        length = np.asarray(interval_s, dtype=np.int64)
        kwh = np.asarray(energy_kwh, dtype=np.float64)
        if reactive_kvarh is None:
            kvarh = np.full(len(ts), np.nan)
        elif isinstance(reactive_kvarh, np.ndarray):
            kvarh = reactive_kvarh.astype(np.float64, copy=False)
        else:
            kvarh = np.array([np.nan if k is None else k for k in reactive_kvarh], dtype=np.float64)
        if not ts.ndim == length.ndim == kwh.ndim == kvarh.ndim == 1 or not (
            len(ts) == len(length) == len(kwh) == len(kvarh)
        ):
            raise BillingError("ts_end, interval_s, energy_kwh and reactive_kvarh differ in length")
        if not len(ts):
            return
        if self._kept_from is not None and int(ts.min()) <= self._kept_from:
            self._late = True
        seen = self._seen.get(meter)
        if seen is None:
            seen = self._seen[meter] = _Seen()
        if seen.all_new(ts):
            # The usual case, all new and none repeated: no reading-by-reading loop.
            # Copies: the caller may reuse its arrays.
            seen.add((ts.copy(), length.copy(), kwh.copy(), kvarh.copy()))
            self._apply_arrays(meter, ts, length, kwh, kvarh)
            return
        # The last of a repeated ts wins, as in InfluxDB.
        rows = zip(length.tolist(), kwh.tolist(), kvarh.tolist(), strict=True)
        batch: dict[int, Stored] = dict(zip(ts.tolist(), rows, strict=True))
        kept = seen.get_many(list(batch))
        added: list[tuple[int, Stored]] = []
        removed: list[tuple[int, Stored]] = []
        for at, new in batch.items():
            old = kept.get(at)
            if old is not None and _same(old, new):
                continue
            if old is not None:
                removed.append((at, old))
            added.append((at, new))
        if added:
            seen.replace(_columns(added))
        self._apply(meter, added, 1)
        self._apply(meter, removed, -1)

    def _apply(self, meter: str, rows: list[tuple[int, Stored]], sign: int) -> None:
        if not rows:
            return
        ts, length, kwh, kvarh = _columns(rows)
        self._apply_arrays(meter, ts, length, kwh * sign, kvarh * sign, sign)

    def _apply_arrays(
        self,
        meter: str,
        ts: np.ndarray,
        length: np.ndarray,
        kwh: np.ndarray,
        kvarh: np.ndarray,
        sign: int = 1,
    ) -> None:
        """Add (sign 1) or take away (sign -1, values already negated) readings' usage."""
        if length.min() < 1:
            raise BillingError(f"interval_s must be >= 1 second, got {int(length.min())}")
        periods = periods_between(
            int((ts - length).min()), int(ts.max()), self.plant.zone, self._read_day
        )
        usages = usage_by_period(self.plant, periods, ts, length, kwh, kvarh)
        for period, usage in zip(periods, usages, strict=True):
            if not usage.readings and not usage.bucket_start.size:
                continue
            self._periods[period.label] = period
            sums = self._sums.get((meter, period.label))
            if sums is None:
                n = len(self.plant.periods)
                sums = _Sums(np.zeros(n), np.zeros(n))
                self._sums[(meter, period.label)] = sums
            sums.add(usage, sign)
            self._dirty.add(period.label)

    def meters(self) -> list[str]:
        return sorted(self._seen)

    def usage(self, label: str, meter: str | None = None) -> Usage:
        """A period's usage of one meter, or of the plant (all meters, demand coincident)."""
        total = Usage.empty(len(self.plant.periods))
        for (m, period), sums in self._sums.items():
            if period == label and (meter is None or m == meter):
                total = total + sums.usage()
        return total

    def bill(self, label: str, meter: str | None = None, *, now: float | None = None) -> Bill:
        """The bill so far of a kept period: the plant's (account) or one meter's (alone).

        With `now` before the period's end, priced through its last reading (per-day charges
        for the days begun, load-factor caps over the hours elapsed), as compute_bill does.
        """
        period = self._periods.get(label) or parse_period(label, self.plant.zone, self._read_day)
        prior = self.prior_peaks(period, meter)
        scope = f"meter {meter} of plant {self.plant_id}" if meter else f"plant {self.plant_id}"
        through = None
        if now is not None and now < period.end_ts:  # else no need to find the last reading
            through = through_ts_for(period, self.last_reading_ts(period, meter), now)
        return price(
            self.plant,
            period,
            self.usage(label, meter),
            prior_peaks=prior,
            account=meter is None,
            scope=scope,
            through_ts=through,
        )

    def last_reading_ts(self, period: BillingPeriod, meter: str | None = None) -> int | None:
        """The end of the newest reading in `period`: of one meter, or of any (the plant)."""
        if meter is None:
            seen = list(self._seen.values())
        else:
            seen = [self._seen[meter]] if meter in self._seen else []
        ends = [s.last_until(period.start_ts, period.end_ts) for s in seen]
        return max((t for t in ends if t is not None), default=None)

    def prior_peaks(
        self, period: BillingPeriod, meter: str | None = None
    ) -> list[dict[str, float]]:
        """The peaks of the periods before `period` that the ratchets look back on, oldest
        first (as `price` takes them): the plant's, or one meter's."""
        out = []
        for k in range(lookback_months(self.plant), 0, -1):
            earlier = shifted(period, -k, self.plant.zone, self._read_day)
            out.append(peaks(self.plant, earlier, self.usage(earlier.label, meter)))
        return out

    def points(self, now: float) -> list[BillingPoint]:
        """Points for the current period and every period changed since the last call."""
        current = period_containing(int(now), self.plant.zone, self._read_day)
        self._prune(current)
        labels = sorted(
            self._dirty | ({current.label} if current.label in self._periods else set())
        )
        self._dirty.clear()
        out = []
        for label in labels:
            if label not in self._periods:
                continue
            for meter in [None, *self.meters()]:
                if meter is not None and (meter, label) not in self._sums:
                    continue
                bill = self.bill(label, meter, now=now)
                out.append(self._point(bill, meter, int(now)))
        return out

    def _point(self, bill: Bill, meter: str | None, now: int) -> BillingPoint:
        tags = {
            "plant": self.plant_id,
            "scope": METER_SCOPE if meter else PLANT_SCOPE,
            "billing_period": bill.period.label,
            "tariff": self.plant.tariff.key,
        }
        if meter:
            tags["meter"] = meter
        # Rounded here, at the edge, as the bill shows them (kilowatch.billing.bill.to_dict):
        # energy to the Wh, demand to the W, the power factor to 4 decimals, money to the
        # cent (the subtotals and the total are already); the sums stay unrounded.
        fields: dict[str, float | int] = {
            "energy_kwh": round(float(bill.energy_kwh), KWH_DECIMALS),
            "energy_cost": bill.subtotal("energy"),
            "demand_charge": bill.subtotal("demand"),
            "fixed_charge": bill.subtotal("fixed", "minimum"),
            "power_factor_adjustment": bill.subtotal("power_factor"),
            "surcharges": bill.subtotal("surcharge"),
            "tax": bill.subtotal("tax"),
            "total": bill.total,
            "readings": bill.readings,
        }
        usage = self.usage(bill.period.label, meter)
        windows = window_demand(self.plant, bill.period, usage)
        if len(windows.kw) and usage.readings:
            best = int(np.argmax(windows.kw))
            fields["demand_peak_kw"] = round(float(windows.kw[best]), KWH_DECIMALS)
            fields["demand_peak_ts"] = int(windows.end_ts[best])
        if bill.power_factor is not None:
            fields["power_factor"] = round(bill.power_factor, POWER_FACTOR_DECIMALS)
        tiers = self.plant.tariff.billing.energy_tiers
        if tiers is not None and bill.tier is not None:
            fields["tier"] = bill.tier
            limit = tiers.tiers[bill.tier - 1].up_to_kwh
            if limit is not None:
                counted = bill.energy_kwh if tiers.counted == "total" else float(usage.kwh.max())
                fields["kwh_to_next_tier"] = round(float(limit - counted), KWH_DECIMALS)
        return BillingPoint(tags, fields, now)

    def _prune(self, current: BillingPeriod) -> None:
        """Forget periods older than the ratchets need (and their readings)."""
        oldest = shifted(current, -self._keep, self.plant.zone, self._read_day)
        if oldest.start_ts == self._kept_from and not self._late:
            return  # nothing older has come since the last pruning: no need to look
        self._kept_from, self._late = oldest.start_ts, False
        for key in [k for k in self._sums if self._periods[k[1]].start_ts < oldest.start_ts]:
            del self._sums[key]
        for label in [lb for lb, p in self._periods.items() if p.start_ts < oldest.start_ts]:
            del self._periods[label]
            self._dirty.discard(label)
        for seen in self._seen.values():
            seen.forget_until(oldest.start_ts)

    def state(self) -> dict[str, Any]:
        """JSON-ready state: the kept readings of each meter."""
        return {
            "version": STATE_VERSION,
            "plant": self.plant_id,
            "tariff": self.plant.tariff.key,
            "meters": {
                meter: [
                    [ts, *(None if np.isnan(v) else v for v in stored)]
                    for ts, stored in seen.items()
                ]
                for meter, seen in self._seen.items()
            },
        }

    @classmethod
    def from_state(cls, plant: PlantTariff, state: dict[str, Any]) -> RunningBill:
        """A running bill from state(); refused if it was made for another tariff version."""
        if state.get("version") != STATE_VERSION or state.get("tariff") != plant.tariff.key:
            raise BillingError(
                f"running-bill state is for tariff {state.get('tariff')!r}, not "
                f"{plant.tariff.key!r}; rebuild it from the stored readings instead"
            )
        running = cls(plant, state["plant"])
        for meter, rows in state["meters"].items():
            running.add_many(
                meter,
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
            )
        return running

    @classmethod
    def rebuild(cls, plant: PlantTariff, plant_id: str, readings: pd.DataFrame) -> RunningBill:
        """A running bill from stored readings (columns meter, ts, interval_s, energy_kwh
        and optionally reactive_kvarh), e.g. read back from InfluxDB at start."""
        running = cls(plant, plant_id)
        for meter, rows in readings.groupby("meter", sort=True):
            kvarh = rows["reactive_kvarh"].tolist() if "reactive_kvarh" in rows else None
            running.add_many(
                str(meter),
                rows["ts"].tolist(),
                rows["interval_s"].tolist(),
                rows["energy_kwh"].tolist(),
                kvarh,
            )
        return running

    def lookback_start(self, now: float) -> int:
        """Unix s from which readings are needed to rebuild: the oldest kept period's start."""
        current = period_containing(int(now), self.plant.zone, self._read_day)
        return shifted(current, -self._keep, self.plant.zone, self._read_day).start_ts


def _columns(rows: list[tuple[int, Stored]]) -> Columns:
    """(ts, (interval, kWh, kvarh)) rows as columns."""
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1][0] for r in rows], dtype=np.int64),
        np.array([r[1][1] for r in rows], dtype=np.float64),
        np.array([r[1][2] for r in rows], dtype=np.float64),
    )


def _same(a: Stored, b: Stored) -> bool:
    """Equal readings (NaN kvarh equal to NaN)."""
    return a[0] == b[0] and a[1] == b[1] and (a[2] == b[2] or (np.isnan(a[2]) and np.isnan(b[2])))
