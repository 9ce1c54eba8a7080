"""Season edges: a fixed day ("04-01") or a weekday rule ("day before last sunday of october")."""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
WEEKDAYS = {name.lower(): number for number, name in enumerate(calendar.day_name)}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
COVERAGE_YEARS = range(2024, 2024 + 28)  # starts on a leap year

_FIXED = re.compile(r"^(\d\d)-(\d\d)$")
_RULE = re.compile(
    r"^(?P<before>day before )?(?P<nth>first|second|third|fourth|last) "
    r"(?P<weekday>[a-z]+) of (?P<month>[a-z]+)$"
)
SPEC_HELP = (
    "write 'MM-DD' (e.g. '04-01') or a weekday rule such as 'first sunday of april' "
    "or 'day before last sunday of october'"
)


@dataclass(frozen=True, slots=True)
class DateSpec:
    """A day of the year, fixed or found by weekday; resolved per year with `on(year)`."""

    text: str
    month: int
    day: int = 0  # fixed day of the month; 0 for a weekday rule
    weekday: int = 0  # Monday = 0
    nth: int = 0  # 1..4, or -1 for the last one in the month
    days_before: int = 0

    @property
    def fixed(self) -> bool:
        return self.day > 0

    def on(self, year: int, *, edge: Literal["from", "to"]) -> date:
        """The date in `year`; in a common year 02-29 means 02-28 as a `to`, 03-01 as a `from`."""
        if self.fixed:
            if self.month == 2 and self.day == 29 and not calendar.isleap(year):
                return date(year, 2, 28) if edge == "to" else date(year, 3, 1)
            return date(year, self.month, self.day)
        if self.nth > 0:
            first = date(year, self.month, 1)
            found = first + timedelta(
                days=(self.weekday - first.weekday()) % 7 + 7 * (self.nth - 1)
            )
        else:
            last = date(year, self.month, calendar.monthrange(year, self.month)[1])
            found = last - timedelta(days=(last.weekday() - self.weekday) % 7)
        return found - timedelta(days=self.days_before)


def parse_date_spec(text: str) -> DateSpec:
    """Read a season edge, raising ValueError with a sentence saying what is accepted."""
    cleaned = " ".join(text.lower().split())
    fixed = _FIXED.match(cleaned)
    if fixed:
        month, day = int(fixed.group(1)), int(fixed.group(2))
        if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(2024, month)[1]:
            raise ValueError(f"{text!r} is not a day of the year (MM-DD); {SPEC_HELP}")
        return DateSpec(text=text, month=month, day=day)
    rule = _RULE.match(cleaned)
    if not rule or rule["weekday"] not in WEEKDAYS or rule["month"] not in MONTHS:
        raise ValueError(f"{text!r} is not a season edge; {SPEC_HELP}")
    if rule["before"] and rule["nth"] == "first" and rule["month"] == "january":
        raise ValueError(f"{text!r} can fall in the year before; use '12-31' or another rule")
    return DateSpec(
        text=text,
        month=MONTHS[rule["month"]],
        weekday=WEEKDAYS[rule["weekday"]],
        nth=ORDINALS[rule["nth"]],
        days_before=1 if rule["before"] else 0,
    )


def season_days(edges: Sequence[tuple[DateSpec, DateSpec]], year: int) -> np.ndarray:
    """Which days of `year` each season holds: a bool array (season, day of year)."""
    days_in_year = 366 if calendar.isleap(year) else 365
    held = np.zeros((len(edges), days_in_year), dtype=bool)
    for index, (start, end) in enumerate(edges):
        first = start.on(year, edge="from").timetuple().tm_yday - 1
        last = end.on(year, edge="to").timetuple().tm_yday - 1
        if first <= last:
            held[index, first : last + 1] = True
        else:  # wraps the year end: the start of this year and the end of it
            held[index, first:] = True
            held[index, : last + 1] = True
    return held


def coverage_problems(
    names: Sequence[str], edges: Sequence[tuple[DateSpec, DateSpec]]
) -> list[str]:
    """Sentences naming a day in no season or in several; empty when the seasons partition the year.

    Fixed edges are checked on a leap year and a common one (an edge on 29 February moves);
    weekday rules on the 28 years from the leap year, which hold every calendar there is
    (weekday of 1 January, leap or not).
    """
    fixed = all(start.fixed and end.fixed for start, end in edges)
    for year in COVERAGE_YEARS[:2] if fixed else COVERAGE_YEARS:
        held = season_days(edges, year)
        counts = held.sum(axis=0)
        wrong = np.flatnonzero(counts != 1)
        if wrong.size:
            day = date(year, 1, 1) + timedelta(days=int(wrong[0]))
            shown = day.strftime("%m-%d") if fixed else day.isoformat()
            if counts[wrong[0]] == 0:
                return [f"{shown} is in no season; every day of the year needs exactly one season"]
            both = " and ".join(repr(names[int(i)]) for i in np.flatnonzero(held[:, wrong[0]]))
            return [f"{shown} is in {both}; every day of the year needs exactly one season"]
    return []
