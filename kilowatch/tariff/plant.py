"""A tariff applied in a plant's local time: the rate at an instant and the cost of readings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from kilowatch.tariff.days import EPOCH, WallCalendar
from kilowatch.tariff.errors import TariffError
from kilowatch.tariff.model import SECONDS_PER_DAY, Tariff
from kilowatch.tariff.timeline import Timeline, build, first_instant, join
from kilowatch.tariff.zones import offsets

# Margins around a local year: UTC offsets stay within +-26 h, and the dates around it must be
# known for the wall times a clock change repeats or skips.
PROBE_MARGIN_S = 2 * SECONDS_PER_DAY
MARGIN_DAYS = 3
# next_change looks this many local years ahead before concluding the rate never changes.
NEXT_CHANGE_YEARS = 2


@dataclass(frozen=True, slots=True)
class Rate:
    """The published pre-tax rate in force at an instant and its period."""

    period: str
    rate_per_kwh: float


@dataclass(frozen=True, slots=True)
class Cost:
    """What one reading costs: `cost = energy_kwh * rate`, taxes included."""

    cost: float
    rate: float  # effective price per kWh over the interval, taxes included
    period: str  # the period holding the largest share of the interval


@dataclass(frozen=True, slots=True)
class PeriodSplit:
    """How each interval divides among the periods (columns in `PlantTariff.periods` order)."""

    share: np.ndarray  # float64 (n, periods): fraction of the interval's time in each period
    pretax_per_kwh: np.ndarray  # float64 (n, periods): pre-tax cost of the interval's kWh there


@dataclass(frozen=True, slots=True)
class CostBatch:
    """Costs of a batch of readings, element by element (see Cost)."""

    cost: np.ndarray  # float64
    rate: np.ndarray  # float64
    period: np.ndarray  # object (str)


class PlantTariff:
    """A tariff in a plant's timezone; years of it are built on first use and kept."""

    def __init__(self, tariff: Tariff, timezone: str | ZoneInfo) -> None:
        self.tariff = tariff
        self.zone = _zone(timezone)
        self._calendar = WallCalendar(tariff)
        self._names = np.array(tariff.periods, dtype=object)
        # Surcharges and taxes on energy are part of the price of every kWh, like tax_percent.
        billing = tariff.billing
        self._tax_factor = (1.0 + tariff.tax_percent / 100.0) * (
            1.0 + billing.energy_surcharge_percent / 100.0
        ) + billing.energy_tax_percent / 100.0
        self._years: dict[int, Timeline] = {}
        self._last: Timeline | None = None

    def rate_at(self, ts: int | datetime) -> Rate:
        """The pre-tax rate in force at `ts` (Unix seconds or an aware datetime)."""
        t = _instant(ts)
        line = self._span(t, t)
        k = int(line.segment(t))
        return Rate(str(self._names[line.period[k]]), float(line.rate[k]))

    def next_change(self, ts: int | datetime) -> tuple[int, Rate] | None:
        """When the period or rate next changes after `ts`, and to what; None if it never does."""
        t = _instant(ts)
        number = self._year_of(t)
        year = self._year(number)
        k = int(year.segment(t))
        now = (year.period[k], year.rate[k])
        for ahead in range(NEXT_CHANGE_YEARS + 1):
            if ahead:
                year, k = self._year(number + ahead), -1
            differs = (year.period[k + 1 :] != now[0]) | (year.rate[k + 1 :] != now[1])
            if differs.any():
                j = k + 1 + int(np.argmax(differs))
                rate = Rate(str(self._names[year.period[j]]), float(year.rate[j]))
                return int(year.bounds[j]), rate
        return None

    def cost(self, ts_end: int, interval_s: int, energy_kwh: float) -> Cost:
        """Cost of one reading: energy over [ts_end - interval_s, ts_end) (see cost_many)."""
        batch = self.cost_many(np.array([ts_end]), np.array([interval_s]), np.array([energy_kwh]))
        return Cost(float(batch.cost[0]), float(batch.rate[0]), str(batch.period[0]))

    def cost_many(self, ts_end: Any, interval_s: Any, energy_kwh: Any) -> CostBatch:
        """Cost readings of energy spread evenly over [ts_end - interval_s, ts_end).

        rate = time-weighted mean pre-tax rate over the interval x (1 + tax_percent / 100);
        cost = energy_kwh x rate; period = the one holding most of the interval (ties: earliest).
        """
        end = _seconds_array(ts_end, "ts_end")
        length = _seconds_array(interval_s, "interval_s")
        energy = np.asarray(energy_kwh, dtype=np.float64)
        if energy.ndim != 1 or not len(end) == len(length) == len(energy):
            raise TariffError("ts_end, interval_s and energy_kwh must be 1-D arrays of one length")
        if not len(end):
            return CostBatch(np.zeros(0), np.zeros(0), np.zeros(0, dtype=object))
        line, start, first, last = self._locate(end, length)
        mean = line.rate[first]
        period = line.period[first]
        split = np.flatnonzero(last > first)
        if split.size:
            mean[split], period[split] = _split(
                line, start[split], end[split], first[split], last[split], len(self._names)
            )
        rate = mean * self._tax_factor
        return CostBatch(energy * rate, rate, self._names[period])

    def _locate(
        self, end: np.ndarray, length: np.ndarray
    ) -> tuple[Timeline, np.ndarray, np.ndarray, np.ndarray]:
        """The timeline spanning the intervals, their starts, and the segments holding each
        interval's first and last second."""
        if length.min() < 1:
            raise TariffError(f"interval_s must be >= 1 second, got {int(length.min())}")
        start = end - length
        line = self._span(int(start.min()), int(end.max()) - 1)
        return line, start, line.segment(start), line.segment(end - 1)

    @property
    def periods(self) -> tuple[str, ...]:
        """The tariff's period names: the columns of split_many."""
        return self.tariff.periods

    def split_many(self, ts_end: Any, interval_s: Any) -> PeriodSplit:
        """Each interval's share of time per period and the pre-tax cost per kWh there.

        For energy e spread evenly over the interval, e x share[:, p] kWh fall in period p and
        cost e x pretax_per_kwh[:, p] before tax; the row sums of pretax_per_kwh times the tax
        factor give cost_many's rate.
        """
        end = _seconds_array(ts_end, "ts_end")
        length = _seconds_array(interval_s, "interval_s")
        if len(end) != len(length):
            raise TariffError("ts_end and interval_s must be 1-D arrays of one length")
        n_periods = len(self._names)
        share = np.zeros((len(end), n_periods))
        pretax = np.zeros((len(end), n_periods))
        if not len(end):
            return PeriodSplit(share, pretax)
        line, start, first, last = self._locate(end, length)
        whole = np.flatnonzero(last == first)
        share[whole, line.period[first[whole]]] = 1.0
        pretax[whole, line.period[first[whole]]] = line.rate[first[whole]]
        split = np.flatnonzero(last > first)
        if split.size:
            owner, segment, overlap = _pairs(
                line, start[split], end[split], first[split], last[split]
            )
            key = split[owner] * n_periods + line.period[segment]
            size = len(end) * n_periods
            seconds = (end - start)[split[owner]]
            share += np.bincount(key, weights=overlap / seconds, minlength=size).reshape(
                share.shape
            )
            pretax += np.bincount(
                key, weights=overlap * line.rate[segment] / seconds, minlength=size
            ).reshape(share.shape)
        return PeriodSplit(share, pretax)

    def _year_of(self, t: int) -> int:
        """The local year whose span holds instant `t`."""
        number = datetime.fromtimestamp(t, self.zone).year
        while t < self._year(number).start:
            number -= 1
        while t >= self._year(number).end:
            number += 1
        return number

    def _span(self, lo: int, hi: int) -> Timeline:
        """A timeline holding every instant of [lo, hi]."""
        line = self._last
        if line is not None and line.start <= lo and hi < line.end:
            return line  # readings arrive in time order: most batches fall in the last span
        first, last = self._year_of(lo), self._year_of(hi)
        if first == last:
            line = self._year(first)
        else:
            line = join([self._year(y) for y in range(first, last + 1)])
        self._last = line
        return line

    def _year(self, number: int) -> Timeline:
        """Local year `number`: from the first instant of its 1 January to that of the next."""
        found = self._years.get(number)
        if found is None:
            found = self._build_year(number)
            self._years[number] = found
        return found

    def _build_year(self, number: int) -> Timeline:
        wall_lo = (date(number, 1, 1) - EPOCH).days * SECONDS_PER_DAY
        wall_hi = (date(number + 1, 1, 1) - EPOCH).days * SECONDS_PER_DAY
        probe_end = wall_hi + PROBE_MARGIN_S
        froms, offs = offsets(self.zone, wall_lo - PROBE_MARGIN_S, probe_end)
        lo = first_instant(wall_lo, froms, offs, probe_end)
        hi = first_instant(wall_hi, froms, offs, probe_end)
        changes = self._calendar.changes(
            date(number, 1, 1) - timedelta(days=MARGIN_DAYS),
            date(number + 1, 1, 1) + timedelta(days=MARGIN_DAYS),
        )
        return build(changes, froms, offs, lo, hi)


def _zone(timezone: str | ZoneInfo) -> ZoneInfo:
    if isinstance(timezone, ZoneInfo):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TariffError(
            f"timezone {timezone!r} is not an IANA timezone such as America/Mexico_City"
        ) from None


def _instant(ts: int | datetime) -> int:
    """Unix seconds from an int or an aware datetime."""
    if isinstance(ts, datetime):
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise TariffError(f"datetime {ts.isoformat()} has no timezone; give an aware datetime")
        return math.floor(ts.timestamp())
    if isinstance(ts, bool) or not isinstance(ts, int | np.integer):
        raise TariffError(f"ts must be Unix seconds (int) or an aware datetime, got {ts!r}")
    return int(ts)


def _seconds_array(values: Any, name: str) -> np.ndarray:
    """A 1-D int64 array of whole seconds."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise TariffError(f"{name} must be a 1-D array")
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.floor(array)):
        return array.astype(np.int64)
    raise TariffError(f"{name} must hold whole seconds")


def _split(
    line: Timeline,
    start: np.ndarray,
    end: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    n_periods: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean rate and main period of intervals that cross segment bounds (vectorised).

    Each (interval, segment) pair gets its overlap in seconds; rates are averaged by time, and
    time is summed per period to find the largest share (ties go to the earliest period).
    """
    n = len(start)
    owner, segment, overlap = _pairs(line, start, end, first, last)
    pair = np.arange(len(owner))
    mean = np.bincount(owner, weights=overlap * line.rate[segment], minlength=n) / (end - start)
    key = owner * n_periods + line.period[segment]
    share = np.bincount(key, weights=overlap, minlength=n * n_periods).reshape(n, n_periods)
    seen = np.full(n * n_periods, len(owner), dtype=np.int64)
    np.minimum.at(seen, key, pair)  # where each period first shows in each interval
    largest = share == share.max(axis=1, keepdims=True)
    period = np.where(largest, seen.reshape(n, n_periods), len(owner) + 1).argmin(axis=1)
    return mean, period


def _pairs(
    line: Timeline, start: np.ndarray, end: np.ndarray, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (interval, segment) pair the intervals cross, with their overlap in seconds."""
    counts = last - first + 1
    owner = np.repeat(np.arange(len(start)), counts)
    pair = np.arange(len(owner))
    segment = first[owner] + pair - np.repeat(np.cumsum(counts) - counts, counts)
    overlap = np.minimum(line.bounds[segment + 1], end[owner]) - np.maximum(
        line.bounds[segment], start[owner]
    )
    return owner, segment, overlap
