from __future__ import annotations

from datetime import date

import yaml

from kilowatch.tariff.model import HolidayRule, Tariff, format_time_of_day, parse_time_of_day

from .samples import TOU, tariff


def test_key_is_id_at_version() -> None:
    assert tariff(TOU).key == "test-tou@1"


def test_periods_are_listed_in_order_of_first_use() -> None:
    assert tariff(TOU).periods == ("base", "intermediate", "peak")


def test_schedules_are_sorted_and_holiday_defaults_to_sunday() -> None:
    raw = yaml.safe_load(TOU)
    raw["seasons"][1]["schedule"]["saturday"] = [
        ["08:00", "24:00", "intermediate"],
        ["00:00", "08:00", "base"],
    ]
    winter = Tariff.model_validate(raw).seasons[1].schedule
    assert [(r.start_s, r.period) for r in winter.saturday or ()] == [
        (0, "base"),
        (8 * 3600, "intermediate"),
    ]
    assert winter.day("holiday") == winter.sunday


def test_top_level_rates_reach_every_season_and_a_season_may_override_one() -> None:
    raw = yaml.safe_load(TOU)
    raw["rates"] = {"base": 9.0, "shoulder": 7.0}
    raw["seasons"][0]["rates"] = {"intermediate": 2.0, "peak": 4.0}
    summer, winter = Tariff.model_validate(raw).seasons
    assert summer.rates == {"base": 9.0, "shoulder": 7.0, "intermediate": 2.0, "peak": 4.0}
    assert winter.rates == {"base": 0.5, "shoulder": 7.0, "intermediate": 1.5, "peak": 3.0}


def test_times_of_day() -> None:
    assert parse_time_of_day("00:00") == 0
    assert parse_time_of_day("20:30") == 73800
    assert parse_time_of_day("24:00") == 86400
    assert format_time_of_day(73800) == "20:30"


def test_holidays_come_from_the_package_and_the_extra_dates() -> None:
    rule = HolidayRule(country="MX", extra_dates=(date(2026, 12, 24), date(2027, 1, 6)))
    days = rule.dates(2026)
    assert date(2026, 9, 16) in days  # Independence Day
    assert date(2026, 11, 16) in days  # Revolution Day, third Monday of November
    assert date(2026, 12, 24) in days
    assert date(2027, 1, 6) not in days  # another year


def test_holidays_only_keeps_the_named_ones() -> None:
    rule = HolidayRule(country="US", only=("Independence Day", "Christmas Day"))
    assert rule.dates(2026) == {date(2026, 7, 4), date(2026, 12, 25)}  # not the observed 3 July
