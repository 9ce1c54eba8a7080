"""Grafana relative times and panel time overrides, resolved as Grafana resolves them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.grafana.timerange import TimeRangeError, apply_math, parse, resolve

HMO = ZoneInfo("America/Hermosillo")  # UTC-7, no DST
LA = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 18, 15, 30, 12, tzinfo=UTC)  # 08:30:12 in Hermosillo


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def test_relative_range_ends_now() -> None:
    found = resolve("now-24h", "now", NOW, HMO)
    assert found.end_ms == ms("2026-11-18T15:30:12+00:00")
    assert found.span_ms == 24 * 3600 * 1000


def test_today_so_far_starts_at_local_midnight() -> None:
    found = resolve("now/d", "now", NOW, HMO)
    assert found.start_ms == ms("2026-11-18T00:00:00-07:00")
    assert found.end_ms == ms("2026-11-18T15:30:12+00:00")


def test_panel_relative_time_replaces_the_dashboard_range() -> None:
    found = resolve("now-7d", "now", NOW, HMO, time_from="2d")
    assert found.span_ms == 2 * 86400 * 1000
    month = resolve("now-7d", "now", NOW, HMO, time_from="now/M")
    assert month.start_ms == ms("2026-11-01T00:00:00-07:00")


def test_time_shift_moves_both_ends_back() -> None:
    same_days = resolve("now-7d", "now", NOW, HMO, time_from="now/M", time_shift="1M")
    assert same_days.start_ms == ms("2026-10-01T00:00:00-07:00")
    assert same_days.end_ms == ms("2026-10-18T15:30:12+00:00")


def test_whole_previous_month_with_rounded_shift() -> None:
    last_month = resolve("now-7d", "now", NOW, HMO, time_from="now/M", time_shift="1M/M")
    assert last_month.start_ms == ms("2026-10-01T00:00:00-07:00")
    assert last_month.end_ms == ms("2026-10-31T23:59:59.999-07:00")


def test_month_arithmetic_clamps_the_day() -> None:
    march_31 = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert apply_math("-1M", march_31) == datetime(2026, 2, 28, 12, tzinfo=UTC)


def test_days_keep_wall_clock_time_across_dst() -> None:
    after = datetime(2026, 3, 8, 12, 0, tzinfo=LA)  # clocks went forward at 02:00 that day
    assert apply_math("-1d", after) == datetime(2026, 3, 7, 12, 0, tzinfo=LA)
    assert apply_math("-24h", after) == datetime(2026, 3, 7, 11, 0, tzinfo=LA)  # 24 real hours


def test_rounding_to_the_iso_week_and_year() -> None:
    wednesday = datetime(2026, 11, 18, 9, tzinfo=HMO)
    assert apply_math("/w", wednesday) == datetime(2026, 11, 16, tzinfo=HMO)
    assert apply_math("/y", wednesday) == datetime(2026, 1, 1, tzinfo=HMO)


@pytest.mark.parametrize("bad", ["now-", "now-3q", "yesterday", "now+x"])
def test_unknown_math_is_refused(bad: str) -> None:
    with pytest.raises(TimeRangeError):
        parse(bad, NOW)


@given(st.integers(min_value=1, max_value=400), st.sampled_from("smhdwMy"))
def test_a_range_never_ends_before_it_starts(amount: int, unit: str) -> None:
    found = resolve(f"now-{amount}{unit}", "now", NOW, LA)
    assert found.span_ms > 0
