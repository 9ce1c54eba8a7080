"""Grafana's relative times ("now-30d", "now/M") and panel time overrides, resolved to instants.

Follows Grafana's dateMath and `applyPanelTimeOverrides`: a panel's `timeFrom` ("2d", "now/M")
replaces the dashboard range (ending now), its `timeShift` ("1M", "1M/M") moves both ends back.
Rounding ("/d", "/M") uses the time zone given, as Grafana uses the dashboard's.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_STEP = re.compile(r"([+-])(\d*)([smhdwMy])|/([smhdwMy])")


class TimeRangeError(ValueError):
    """A relative time Grafana would not understand."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, end] in milliseconds since the Unix epoch, as Grafana sends it to a datasource."""

    start_ms: int
    end_ms: int

    @property
    def span_ms(self) -> int:
        return self.end_ms - self.start_ms


def _add_months(moment: datetime, months: int) -> datetime:
    """Calendar months later (or earlier), the day clamped to the month's length (as moment.js)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _shift(moment: datetime, sign: int, amount: int, unit: str) -> datetime:
    if unit in "My":
        return _add_months(moment, sign * amount * (12 if unit == "y" else 1))
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    step = timedelta(seconds=sign * amount * seconds)
    if unit in "dw":  # calendar days keep the wall-clock time across DST changes, as moment.js
        return (moment + step).replace(fold=0)  # aware + timedelta is wall-clock arithmetic
    return (moment.astimezone(UTC) + step).astimezone(moment.tzinfo)


def _round(moment: datetime, unit: str, round_up: bool) -> datetime:
    """Start of the unit holding `moment` (or its last millisecond when round_up), ISO weeks."""
    if unit == "s":
        start = moment.replace(microsecond=0)
    elif unit == "m":
        start = moment.replace(second=0, microsecond=0)
    elif unit == "h":
        start = moment.replace(minute=0, second=0, microsecond=0)
    else:
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if unit == "w":
            start -= timedelta(days=start.weekday())
        elif unit == "M":
            start = start.replace(day=1)
        elif unit == "y":
            start = start.replace(month=1, day=1)
        start = start.replace(fold=0)
    if not round_up:
        return start
    return _shift(start, +1, 1, unit) - timedelta(milliseconds=1)


def apply_math(text: str, moment: datetime, *, round_up: bool = False) -> datetime:
    """Apply date math such as "-1M/M" or "-30d" to a moment (Grafana's parseDateMath)."""
    position = 0
    while position < len(text):
        step = _STEP.match(text, position)
        if step is None:
            raise TimeRangeError(f"{text!r} is not Grafana date math such as -30d or -1M/M")
        sign, amount, unit, round_unit = step.groups()
        if round_unit:
            moment = _round(moment, round_unit, round_up)
        else:
            moment = _shift(moment, 1 if sign == "+" else -1, int(amount or 1), unit)
        position = step.end()
    return moment


def parse(text: str, now: datetime, *, round_up: bool = False) -> datetime:
    """A Grafana time: "now" with optional math ("now-7d", "now/d"), or RFC 3339 text."""
    if text.startswith("now"):
        return apply_math(text[3:], now, round_up=round_up)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TimeRangeError(f"{text!r} is neither 'now...' nor an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def resolve(
    start: str,
    end: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    time_from: str | None = None,
    time_shift: str | None = None,
) -> TimeRange:
    """The range a panel queries: the dashboard's, or the panel's relative time, then its shift."""
    local_now = now.astimezone(zone)
    if time_from:
        # Grafana's describeTextRange: "2d" means "now-2d" to now; "now/M" means now/M to now.
        start = time_from if "now" in time_from else f"now-{time_from}"
        end = "now"
    first = parse(start, local_now)
    last = parse(end, local_now, round_up=True)
    if time_shift:
        first = apply_math(f"-{time_shift}", first)
        last = apply_math(f"-{time_shift}", last, round_up=True)
    return TimeRange(_ms(first), _ms(last))
