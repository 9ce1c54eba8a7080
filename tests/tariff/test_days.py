from __future__ import annotations

from datetime import date

from kilowatch.tariff.days import WallCalendar

from .samples import TOU, tariff


def test_day_types() -> None:
    calendar = WallCalendar(tariff(TOU))
    assert calendar.day_type(date(2026, 7, 15)) == "weekday"
    assert calendar.day_type(date(2026, 7, 18)) == "saturday"
    assert calendar.day_type(date(2026, 7, 19)) == "sunday"
    assert calendar.day_type(date(2026, 9, 16)) == "holiday"  # MX Independence Day
    assert calendar.day_type(date(2026, 12, 24)) == "holiday"  # extra date


def test_changes_of_two_days_in_wall_seconds() -> None:
    calendar = WallCalendar(tariff(TOU))
    # Saturday 31 Oct 2026 (summer) then Sunday 1 Nov (winter, all base).
    changes = calendar.changes(date(2026, 10, 31), date(2026, 11, 1))
    day = (date(2026, 10, 31) - date(1970, 1, 1)).days * 86400
    assert changes.wall_s.tolist() == [day, day + 7 * 3600, day + 86400]
    assert [calendar.periods[i] for i in changes.period] == ["base", "intermediate", "base"]
    assert changes.rate.tolist() == [1.0, 2.0, 0.5]
