"""Billing periods in the plant's local time, and local dates on the command line."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from kilowatch.billing import BillingError
from kilowatch.billing.periods import parse_period, period_containing, periods_between, shifted
from kilowatch.cli.billing import local_instant
from tests.tariff.samples import local

SEATTLE = ZoneInfo("America/Los_Angeles")


def test_calendar_month_in_local_time() -> None:
    period = parse_period("2026-11", SEATTLE)
    assert period.start_ts == local("America/Los_Angeles", 2026, 11, 1)
    assert period.end_ts == local("America/Los_Angeles", 2026, 12, 1)
    assert period.days == 30
    assert period.end_ts - period.start_ts == 30 * 86400 + 3600  # clocks fall back on 1 Nov


def test_read_day_periods() -> None:
    # the 14th belongs to the period that started on 15 September
    found = period_containing(local("America/Los_Angeles", 2026, 10, 14, 23), SEATTLE, 15)
    assert found.label == "2026-09"
    assert (found.first_day.isoformat(), found.next_first_day.isoformat()) == (
        "2026-09-15",
        "2026-10-15",
    )
    assert shifted(found, 4, SEATTLE, 15).label == "2027-01"
    labels = [p.label for p in periods_between(found.start_ts, found.end_ts + 1, SEATTLE, 15)]
    assert labels == ["2026-09", "2026-10"]


def test_skipped_midnight_starts_at_the_jump() -> None:
    santiago = ZoneInfo("America/Santiago")  # clocks go 00:00 -> 01:00 on 6 September 2026
    period = parse_period("2026-09", santiago, 6)
    assert period.start_ts == local("America/Santiago", 2026, 9, 6, 1)


@pytest.mark.parametrize("label", ["2026-13", "2026-1", "October"])
def test_bad_labels(label: str) -> None:
    with pytest.raises(BillingError, match="YYYY-MM"):
        parse_period(label, SEATTLE)


def test_local_instant() -> None:
    assert local_instant("2026-10-01", SEATTLE) == local("America/Los_Angeles", 2026, 10, 1)
    assert local_instant("2026-10-01T06:30", SEATTLE) == local(
        "America/Los_Angeles", 2026, 10, 1, 6, 30
    )
    assert local_instant("2026-10-01T00:00+00:00", SEATTLE) == 1790812800
    with pytest.raises(BillingError, match="--to 'yesterday' must be a date"):
        local_instant("yesterday", SEATTLE, "--to")
