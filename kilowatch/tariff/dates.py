"""Season edges: a fixed day ("04-01") or a weekday rule ("day before last sunday of october")."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
WEEKDAYS = {name.lower(): number for number, name in enumerate(calendar.day_name)}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

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

    def on(self, year: int, *, edge: str) -> date:
        """The date in `year`; 02-29 in a common year is 02-28 as an end ('to'), 03-01 as a start."""
        if self.fixed:
            if self.month == 2 and self.day == 29 and not calendar.isleap(year):
                return date(year, 2, 28) if edge == "to" else date(year, 3, 1)
            return date(year, self.month, self.day)
        if self.nth > 0:
            first = date(year, self.month, 1)
            found = first + timedelta(days=(self.weekday - first.weekday()) % 7 + 7 * (self.nth - 1))
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
    return DateSpec(
        text=text,
        month=MONTHS[rule["month"]],
        weekday=WEEKDAYS[rule["weekday"]],
        nth=ORDINALS[rule["nth"]],
        days_before=1 if rule["before"] else 0,
    )
