"""Shift schedules and plant calendars: which minutes are busy, in local time, holidays included."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kilowatch.metermodel.calendar import (
    DEFAULT_SCHEDULE,
    SATURDAY,
    STEPS_PER_DAY,
    SUNDAY,
    WEEKDAY,
    Period,
    PlantCalendar,
    ShiftSchedule,
    plant_calendar,
)

EPOCH = date(1970, 1, 1)


def minute_after_six(clock: str) -> int:
    hours, minutes = map(int, clock.split(":"))
    return ((hours - 6) * 60 + minutes) % STEPS_PER_DAY


def activity(
    calendar: PlantCalendar, timezone: str, year: int, month: int, day: int, hour: int, minute: int
) -> float:
    """Activity during the minute that starts at a local time."""
    ts = int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(timezone)).timestamp())
    return float(calendar.day(ts // 86400).activity[ts % 86400 // 60])


def test_default_week_has_three_shifts_breaks_a_short_saturday_and_an_idle_sunday() -> None:
    table = DEFAULT_SCHEDULE.table()
    assert table.shape == (3, STEPS_PER_DAY)
    weekday = table[WEEKDAY]
    assert weekday[minute_after_six("08:00")] == 1.0
    assert weekday[minute_after_six("16:00")] > 0.9
    assert 0.5 < weekday[minute_after_six("03:00")] < weekday[minute_after_six("16:00")]
    for lunch in ("10:15", "18:15", "02:15"):
        assert weekday[minute_after_six(lunch)] < 0.5
    saturday = table[SATURDAY]
    assert 0.3 < saturday[minute_after_six("08:00")] < weekday[minute_after_six("08:00")]
    assert saturday[minute_after_six("18:00")] == DEFAULT_SCHEDULE.idle_level
    assert table[SUNDAY].max() < 0.1


def test_later_periods_override_earlier_ones() -> None:
    schedule = ShiftSchedule(
        weekday=(Period("06:00", "14:00", 1.0), Period("09:00", "09:30", 0.2)), saturday=()
    )
    row = schedule.table()[WEEKDAY]
    assert row[minute_after_six("08:59")] == 1.0
    assert row[minute_after_six("09:00")] == 0.2
    assert row[minute_after_six("09:30")] == 1.0


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (("25:00", "06:00", 1.0), "must be HH:MM"),
        (("06:00", "14:00", 1.5), "level must be 0..1"),
    ],
)
def test_bad_periods_are_refused_with_the_reason(
    period: tuple[str, str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Period(*period)


def test_a_period_across_the_shift_day_start_is_refused() -> None:
    with pytest.raises(ValueError, match="crosses the shift-day start 06:00"):
        ShiftSchedule(weekday=(Period("04:00", "08:00", 1.0),), saturday=())


def test_day_types_follow_the_week_and_public_holidays() -> None:
    mexico = plant_calendar("America/Mexico_City", "MX")
    days = {d: (d - EPOCH).days for d in (date(2026, 11, 16), date(2026, 11, 17))}
    assert mexico.day_type(days[date(2026, 11, 16)]) == SUNDAY  # Revolution Day, a Monday
    assert mexico.day_type(days[date(2026, 11, 17)]) == WEEKDAY
    assert mexico.day_type((date(2026, 11, 28) - EPOCH).days) == SATURDAY
    assert mexico.day_type((date(2026, 11, 29) - EPOCH).days) == SUNDAY
    no_holidays = plant_calendar("America/Mexico_City", None)
    assert no_holidays.day_type(days[date(2026, 11, 16)]) == WEEKDAY


@pytest.mark.parametrize("timezone", ["America/Mexico_City", "Europe/Berlin", "Asia/Kolkata"])
def test_shifts_start_at_six_local_time(timezone: str) -> None:
    calendar = plant_calendar(timezone, None)
    # Wednesday 2026-07-15 and 2026-01-14: summer and winter time where there is any.
    for month, day in ((7, 15), (1, 14)):
        assert activity(calendar, timezone, 2026, month, day, 5, 30) < 0.8
        assert activity(calendar, timezone, 2026, month, day, 6, 0) == 1.0


def test_clock_change_days_have_one_value_per_minute_in_local_time() -> None:
    berlin = plant_calendar("Europe/Berlin", "DE")
    spring = datetime(2026, 3, 29, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    for day in (int(spring) // 86400, int(spring) // 86400 + 1):
        profile = berlin.day(day)
        assert profile.activity.shape == profile.wave.shape == (STEPS_PER_DAY,)
    # Sunday 29 March is idle either side of the change; Monday's shift starts 06:00 CEST.
    assert activity(berlin, "Europe/Berlin", 2026, 3, 30, 6, 0) == 1.0
    assert activity(berlin, "Europe/Berlin", 2026, 3, 30, 5, 0) < 0.1


def test_daily_sums_match_the_days() -> None:
    calendar = plant_calendar("America/Mexico_City", "MX")
    sums = calendar.sums(20400, 20410)
    for row, day in zip(sums, range(20400, 20410), strict=True):
        profile = calendar.day(day)
        assert row == pytest.approx(
            [profile.activity.sum(), profile.wave.sum(), (profile.activity * profile.wave).sum()]
        )


def test_the_daily_wave_peaks_in_the_afternoon() -> None:
    calendar = plant_calendar("America/Mexico_City", None)
    ts = int(datetime(2026, 7, 15, tzinfo=ZoneInfo("America/Mexico_City")).timestamp())
    waves = np.concatenate([calendar.day(ts // 86400).wave, calendar.day(ts // 86400 + 1).wave])
    local_minutes = waves[ts % 86400 // 60 : ts % 86400 // 60 + STEPS_PER_DAY]
    assert int(local_minutes.argmax()) // 60 == 15


def test_unknown_timezone_and_country_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="not an IANA timezone"):
        PlantCalendar("Mars/Olympus", None, DEFAULT_SCHEDULE)
    with pytest.raises(ValueError, match="not known to the holidays package"):
        PlantCalendar("America/Mexico_City", "XX", DEFAULT_SCHEDULE)
