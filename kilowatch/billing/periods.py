"""Billing periods: from 00:00 local on the meter-read day of one month to that of the next."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kilowatch.billing.errors import BillingError

_LABEL = re.compile(r"^(\d{4})-(\d{2})$")
MONTHS_PER_YEAR = 12


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    """[start_ts, end_ts) in Unix seconds; `label` is the month it starts in, 'YYYY-MM'."""

    label: str
    start_ts: int
    end_ts: int
    first_day: date
    next_first_day: date  # first day of the next period (excluded)

    @property
    def days(self) -> int:
        """Calendar days in the period (a DST change does not change the count)."""
        return (self.next_first_day - self.first_day).days

    @property
    def month(self) -> int:
        return self.first_day.month


def _midnight(day: date, zone: ZoneInfo) -> int:
    """Unix seconds of 00:00 local on `day` (where midnight is skipped: the jump)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * MONTHS_PER_YEAR + month - 1 + months
    return index // MONTHS_PER_YEAR, index % MONTHS_PER_YEAR + 1


def period_of_month(year: int, month: int, zone: ZoneInfo, read_day: int = 1) -> BillingPeriod:
    """The billing period starting on `read_day` of that month."""
    first = date(year, month, read_day)
    next_year, next_month = _add_months(year, month, 1)
    following = date(next_year, next_month, read_day)
    return BillingPeriod(
        f"{year:04d}-{month:02d}",
        _midnight(first, zone),
        _midnight(following, zone),
        first,
        following,
    )


def parse_period(label: str, zone: ZoneInfo, read_day: int = 1) -> BillingPeriod:
    """'2026-10' as the billing period starting in October 2026."""
    match = _LABEL.match(label)
    if not match or not 1 <= int(match.group(2)) <= MONTHS_PER_YEAR:
        raise BillingError(f"billing period {label!r} must be YYYY-MM, for example 2026-10")
    return period_of_month(int(match.group(1)), int(match.group(2)), zone, read_day)


def period_containing(ts: int, zone: ZoneInfo, read_day: int = 1) -> BillingPeriod:
    """The billing period holding instant `ts`."""
    local = datetime.fromtimestamp(ts, zone)
    year, month = local.year, local.month
    if local.day < read_day:
        year, month = _add_months(year, month, -1)
    return period_of_month(year, month, zone, read_day)


def shifted(period: BillingPeriod, months: int, zone: ZoneInfo, read_day: int = 1) -> BillingPeriod:
    """The period `months` later (negative: earlier)."""
    year, month = _add_months(period.first_day.year, period.first_day.month, months)
    return period_of_month(year, month, zone, read_day)


def periods_between(
    lo_ts: int, hi_ts: int, zone: ZoneInfo, read_day: int = 1
) -> list[BillingPeriod]:
    """Every billing period overlapping [lo_ts, hi_ts), in order."""
    found = [period_containing(lo_ts, zone, read_day)]
    while found[-1].end_ts < hi_ts:
        found.append(shifted(found[-1], 1, zone, read_day))
    return found
