from __future__ import annotations

from datetime import date

import pytest

from kilowatch.tariff.dates import coverage_problems, parse_date_spec, season_days


@pytest.mark.parametrize(
    ("text", "year", "expected"),
    [
        ("04-01", 2026, date(2026, 4, 1)),
        ("first sunday of april", 2026, date(2026, 4, 5)),  # 1 April 2026 is a Wednesday
        ("first sunday of april", 2021, date(2021, 4, 4)),
        ("last sunday of october", 2026, date(2026, 10, 25)),  # 31 October 2026 is a Saturday
        ("day before last sunday of october", 2026, date(2026, 10, 24)),
        ("day before first sunday of april", 2024, date(2024, 4, 6)),
        ("second monday of march", 2026, date(2026, 3, 9)),
        ("  Last  Sunday of October ", 2021, date(2021, 10, 31)),
    ],
)
def test_date_specs_resolve_per_year(text: str, year: int, expected: date) -> None:
    assert parse_date_spec(text).on(year, edge="from") == expected


def test_february_29_in_a_common_year_ends_on_the_28th_and_starts_on_march_1st() -> None:
    leap_day = parse_date_spec("02-29")
    assert leap_day.on(2024, edge="to") == date(2024, 2, 29)
    assert leap_day.on(2025, edge="to") == date(2025, 2, 28)
    assert leap_day.on(2025, edge="from") == date(2025, 3, 1)


@pytest.mark.parametrize("text", ["13-01", "02-30", "4-1", "first sun of april", "easter"])
def test_bad_date_specs_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="first sunday of april"):
        parse_date_spec(text)


def test_a_rule_that_could_leave_the_year_is_refused() -> None:
    with pytest.raises(ValueError, match="can fall in the year before"):
        parse_date_spec("day before first sunday of january")


def test_a_season_from_after_to_wraps_the_year_end() -> None:
    winter = (parse_date_spec("11-01"), parse_date_spec("03-31"))
    held = season_days([winter], 2026)[0]
    assert held.sum() == 31 + 28 + 31 + 30 + 31  # Jan, Feb, Mar, Nov, Dec
    assert held[0] and held[89] and not held[90]  # 1 Jan and 31 Mar in, 1 Apr out


def test_coverage_names_the_day_missing_or_doubled() -> None:
    summer = (parse_date_spec("04-01"), parse_date_spec("10-31"))
    assert (
        coverage_problems(
            ["s", "w"], [summer, (parse_date_spec("11-01"), parse_date_spec("03-31"))]
        )
        == []
    )
    missing = coverage_problems(
        ["s", "w"], [summer, (parse_date_spec("11-02"), parse_date_spec("03-31"))]
    )
    assert missing == ["11-01 is in no season; every day of the year needs exactly one season"]
    doubled = coverage_problems(
        ["s", "w"], [summer, (parse_date_spec("10-31"), parse_date_spec("03-31"))]
    )
    assert doubled == ["10-31 is in 's' and 'w'; every day of the year needs exactly one season"]


def test_coverage_checks_the_leap_day() -> None:
    edges = [
        (parse_date_spec("03-01"), parse_date_spec("10-31")),
        (parse_date_spec("11-01"), parse_date_spec("02-28")),
    ]
    assert coverage_problems(["s", "w"], edges) == [
        "02-29 is in no season; every day of the year needs exactly one season"
    ]


def test_coverage_checks_a_common_year_too() -> None:
    # Fine in a leap year; in a common one "02-29" to "02-29" becomes 03-01 to 02-28: all year.
    edges = [
        (parse_date_spec("02-29"), parse_date_spec("02-29")),
        (parse_date_spec("03-01"), parse_date_spec("02-28")),
    ]
    [problem] = coverage_problems(["leap_day", "rest"], edges)
    assert "is in 'leap_day' and 'rest'" in problem


def test_coverage_of_weekday_rules_names_the_year() -> None:
    # A summer that stops at the last Saturday of October leaves a gap in years where the last
    # Sunday is not the day after it (2024: Sat 26th, Sun 27th is fine; 2026: Sat 31st, Sun 25th).
    edges = [
        (parse_date_spec("first sunday of april"), parse_date_spec("last saturday of october")),
        (
            parse_date_spec("last sunday of october"),
            parse_date_spec("day before first sunday of april"),
        ),
    ]
    assert coverage_problems(["summer", "winter"], edges) == [
        "2026-10-25 is in 'summer' and 'winter'; every day of the year needs exactly one season"
    ]
