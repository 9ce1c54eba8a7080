"""When a plant works: its shift schedule, and for each UTC day how busy it is minute by minute."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np

from kilowatch.metermodel.noise import Floats
from kilowatch.tariff.zones import offset_at

STEP_S = 60  # the model's resolution: power is constant within each minute
DAY_S = 86400
STEPS_PER_DAY = DAY_S // STEP_S
WEEKDAY, SATURDAY, SUNDAY = 0, 1, 2  # rows of ShiftSchedule.table(); holidays use SUNDAY
PEAK_HOUR = 15  # local hour at which the daily wave (heat load) peaks
_EPOCH_DATE = date(1970, 1, 1)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _minutes(clock: str) -> int:
    """'HH:MM' as minutes after midnight."""
    found = _CLOCK.match(clock)
    if found is None:
        raise ValueError(f"clock time {clock!r} must be HH:MM, 00:00 to 23:59")
    return int(found[1]) * 60 + int(found[2])


@dataclass(frozen=True, slots=True)
class Period:
    """Activity `level` (0..1) from `start` to `end`, local 'HH:MM'; end <= start: past midnight."""

    start: str
    end: str
    level: float

    def __post_init__(self) -> None:
        _minutes(self.start)
        _minutes(self.end)
        if not 0.0 <= self.level <= 1.0:
            raise ValueError(
                f"period {self.start}-{self.end}: level must be 0..1, got {self.level}"
            )


@dataclass(frozen=True, slots=True)
class ShiftSchedule:
    """A plant's week: periods per day type; later periods override earlier ones (breaks on shifts).

    A shift day runs from `day_start` to the next `day_start`, so a night shift belongs to the day
    it started: Friday's night shift runs into Saturday morning, and Monday 00:00-06:00 is idle
    because Sunday's shift day is.
    """

    weekday: tuple[Period, ...]
    saturday: tuple[Period, ...]
    sunday: tuple[Period, ...] = ()  # also public holidays
    day_start: str = "06:00"
    idle_level: float = 0.02
    _table: np.ndarray = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        start = _minutes(self.day_start)
        rows = []
        for periods in (self.weekday, self.saturday, self.sunday):
            row = np.full(STEPS_PER_DAY, self.idle_level)
            for period in periods:
                begin = (_minutes(period.start) - start) % STEPS_PER_DAY
                end = (_minutes(period.end) - start) % STEPS_PER_DAY or STEPS_PER_DAY
                if end <= begin:
                    raise ValueError(
                        f"period {period.start}-{period.end} crosses the shift-day start "
                        f"{self.day_start}; split it there"
                    )
                row[begin:end] = period.level
            rows.append(row)
        table = np.array(rows)
        table.flags.writeable = False
        object.__setattr__(self, "_table", table)

    def table(self) -> Floats:
        """Activity by day type (WEEKDAY, SATURDAY, SUNDAY) and minute after `day_start`."""
        return self._table

    @property
    def day_start_s(self) -> int:
        return _minutes(self.day_start) * 60


DEFAULT_SCHEDULE = ShiftSchedule(
    weekday=(
        Period("06:00", "14:00", 1.0),
        Period("14:00", "22:00", 0.95),
        Period("22:00", "06:00", 0.75),  # the night shift runs fewer lines
        # Meal breaks and hand-overs: most machines stop while crews eat or change over.
        Period("10:00", "10:30", 0.3),
        Period("18:00", "18:30", 0.3),
        Period("02:00", "02:30", 0.25),
        Period("13:50", "14:10", 0.6),
        Period("21:50", "22:10", 0.55),
        Period("05:40", "06:00", 0.45),
    ),
    saturday=(
        Period("06:00", "14:00", 0.6),
        Period("10:00", "10:30", 0.2),
        Period("13:40", "14:00", 0.35),
    ),
    sunday=(Period("09:00", "12:00", 0.06),),  # maintenance crew
)


@dataclass(frozen=True, slots=True)
class DayProfile:
    """One UTC day of a plant, minute by minute: activity (0..1) and the daily wave (-1..1)."""

    activity: Floats
    wave: Floats  # cos of the local hour, +1 at PEAK_HOUR: how hot it is, roughly
    sums: tuple[float, float, float]  # sum of activity, of wave, of activity * wave


class PlantCalendar:
    """A plant's days: which are workdays (weekday, holiday) and how busy each minute is.

    Days are cached: a UTC day is a function of its UTC offsets and of the types of the local
    shift days it overlaps, so a few dozen distinct profiles cover any number of years.
    """

    def __init__(
        self, timezone: str, holidays_country: str | None, schedule: ShiftSchedule
    ) -> None:
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone {timezone!r} is not an IANA timezone such as America/Mexico_City"
            ) from None
        self.holidays = None
        if holidays_country is not None:
            try:
                self.holidays = holidays.country_holidays(holidays_country)
            except NotImplementedError:
                raise ValueError(
                    f"holidays country {holidays_country!r} is not known to the holidays "
                    "package; use an ISO 3166 code such as MX, US or DE"
                ) from None
        self.schedule = schedule
        self._table = schedule.table()
        self._day_types: dict[int, int] = {}
        self._days: dict[int, DayProfile] = {}
        self._profiles: dict[tuple[int, int, int, tuple[int, ...]], DayProfile] = {}

    def day_type(self, local_day: int) -> int:
        """WEEKDAY, SATURDAY or SUNDAY (also public holidays) for a local date (days since 1970)."""
        found = self._day_types.get(local_day)
        if found is None:
            when = _EPOCH_DATE + timedelta(days=local_day)
            if self.holidays is not None and when in self.holidays:
                found = SUNDAY
            else:
                found = {5: SATURDAY, 6: SUNDAY}.get(when.weekday(), WEEKDAY)
            self._day_types[local_day] = found
        return found

    def day(self, utc_day: int) -> DayProfile:
        """The profile of the UTC day starting at utc_day * 86400."""
        found = self._days.get(utc_day)
        if found is None:
            key = self._key(utc_day)
            found = self._profiles.get(key)
            if found is None:
                found = self._profiles[key] = self._profile(*key)
            self._days[utc_day] = found
        return found

    def sums(self, first_day: int, stop_day: int) -> Floats:
        """Per UTC day in [first_day, stop_day): (sum of activity, of wave, of activity * wave)."""
        return np.array(
            [self.day(day).sums for day in range(first_day, stop_day)], dtype=np.float64
        ).reshape(-1, 3)

    def _key(self, utc_day: int) -> tuple[int, int, int, tuple[int, ...]]:
        start = utc_day * DAY_S
        last = start + DAY_S - STEP_S
        first_offset, last_offset = offset_at(self.zone, start), offset_at(self.zone, last)
        change = STEPS_PER_DAY  # first minute on last_offset
        if first_offset != last_offset:
            low, high = 0, STEPS_PER_DAY - 1
            while high - low > 1:
                middle = (low + high) // 2
                if offset_at(self.zone, start + middle * STEP_S) == first_offset:
                    low = middle
                else:
                    high = middle
            change = high
        shift = self.schedule.day_start_s
        first = (start + first_offset - shift) // DAY_S
        final = (last + last_offset - shift) // DAY_S
        types = tuple(self.day_type(day) for day in range(first, final + 1))
        return first_offset, last_offset, change, types

    def _profile(
        self, first_offset: int, last_offset: int, change: int, types: tuple[int, ...]
    ) -> DayProfile:
        minute = np.arange(STEPS_PER_DAY, dtype=np.int64)
        # Local wall time relative to this UTC midnight: only the offsets matter, not the date.
        local = minute * STEP_S + np.where(minute < change, first_offset, last_offset)
        shifted = local - self.schedule.day_start_s
        shift_day = shifted // DAY_S
        row = np.array(types)[shift_day - shift_day[0]]
        activity = self._table[row, (shifted % DAY_S) // STEP_S]
        hours = (local % DAY_S) / 3600.0
        wave = np.cos(2.0 * math.pi * (hours - PEAK_HOUR) / 24.0)
        sums = (float(activity.sum()), float(wave.sum()), float((activity * wave).sum()))
        return DayProfile(activity, wave, sums)


@functools.cache
def plant_calendar(
    timezone: str, holidays_country: str | None, schedule: ShiftSchedule = DEFAULT_SCHEDULE
) -> PlantCalendar:
    """The calendar shared by every meter of plants with this timezone, country and schedule."""
    return PlantCalendar(timezone, holidays_country, schedule)
