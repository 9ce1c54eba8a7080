"""A tariff on the local wall clock: for each local date, where its periods start and rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from kilowatch.tariff.dates import season_days
from kilowatch.tariff.model import DAY_TYPES, SECONDS_PER_DAY, DayType, Tariff, TimeRange

EPOCH = date(1970, 1, 1)
_WEEK: tuple[DayType, ...] = ("weekday",) * 5 + ("saturday", "sunday")


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One kind of day: where each range starts (seconds after midnight), its period and rate."""

    start_s: np.ndarray  # int64
    period: np.ndarray  # intp, index into WallCalendar.periods
    rate: np.ndarray  # float64, pre-tax


@dataclass(frozen=True, slots=True)
class WallChanges:
    """Local wall-clock instants (seconds since 1970-01-01 00:00 local) where a range starts."""

    wall_s: np.ndarray  # int64, strictly increasing
    period: np.ndarray  # intp
    rate: np.ndarray  # float64, pre-tax


class WallCalendar:
    """Which season and day type each local date is, and the plan of its day."""

    def __init__(self, tariff: Tariff) -> None:
        self.periods = tariff.periods
        index = {name: i for i, name in enumerate(self.periods)}
        self._holidays = tariff.holidays
        self._edges = [(season.from_, season.to) for season in tariff.seasons]
        self._plans = {
            (s, day_type): _plan(season.schedule.day(day_type), season.rates, index)
            for s, season in enumerate(tariff.seasons)
            for day_type in DAY_TYPES
        }
        self._years: dict[int, tuple[np.ndarray, set[date]]] = {}

    def _year(self, year: int) -> tuple[np.ndarray, set[date]]:
        """The season of each day of `year` and its holidays."""
        found = self._years.get(year)
        if found is None:
            found = (season_days(self._edges, year).argmax(axis=0), self._holidays.dates(year))
            self._years[year] = found
        return found

    def day_type(self, day: date) -> DayType:
        return "holiday" if day in self._year(day.year)[1] else _WEEK[day.weekday()]

    def plan(self, day: date) -> DayPlan:
        """The plan in force on a local date."""
        season = int(self._year(day.year)[0][day.timetuple().tm_yday - 1])
        return self._plans[(season, self.day_type(day))]

    def changes(self, first: date, last: date) -> WallChanges:
        """Every range start from `first` to `last` (both included), in order."""
        walls, periods, rates = [], [], []
        day = first
        while day <= last:
            plan = self.plan(day)
            walls.append(plan.start_s + (day - EPOCH).days * SECONDS_PER_DAY)
            periods.append(plan.period)
            rates.append(plan.rate)
            day += timedelta(days=1)
        return WallChanges(np.concatenate(walls), np.concatenate(periods), np.concatenate(rates))


def _plan(ranges: tuple[TimeRange, ...], rates: dict[str, float], index: dict[str, int]) -> DayPlan:
    """A day's ranges as arrays, neighbours of the same period joined."""
    kept = [r for i, r in enumerate(ranges) if i == 0 or r.period != ranges[i - 1].period]
    return DayPlan(
        start_s=np.array([r.start_s for r in kept], dtype=np.int64),
        period=np.array([index[r.period] for r in kept], dtype=np.intp),
        rate=np.array([rates[r.period] for r in kept], dtype=np.float64),
    )
