"""Rows from any dialect -> the one DataFrame a query returns (pure: no I/O).

Every runner hands over a long frame: `time` (bucket start, UTC; absent when the query has no
buckets), `tag` (the group's value, when grouped), `billing_period` (bills) and `value`. The
shaping turns it into local time, finishes what a dialect cannot do on the server (InfluxQL's
months, the top n, the hour-of-day profile, completeness as a fraction, kWh per window as kW)
and pivots it: a tz-aware local index and one column per group, the unit in `df.attrs`.
"""

from __future__ import annotations

import pandas as pd

from kilowatch.query.plan import Plan

TIME, TAG, VALUE, BILLING_PERIOD = "time", "tag", "value", "billing_period"


def empty_long(plan: Plan) -> pd.DataFrame:
    """The long frame of a query that matched nothing."""
    columns = [TIME, TAG, VALUE]
    if plan.aggregate == "last":
        columns.append(BILLING_PERIOD)
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def utc_times(values: pd.Series) -> pd.Series:
    """Times as UTC tz-aware: from integer nanoseconds, naive UTC or tz-aware timestamps."""
    if pd.api.types.is_integer_dtype(values):
        return pd.to_datetime(values, unit="ns", utc=True)
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def _month_starts(local: pd.Series, plan: Plan) -> pd.Series:
    naive = local.dt.tz_localize(None).dt.to_period("M").dt.start_time
    return naive.dt.tz_localize(plan.zone, ambiguous=True, nonexistent="shift_forward")


def _bucket_seconds(starts: pd.DatetimeIndex, plan: Plan) -> pd.Series:
    """Seconds of each bucket inside the range (local days of 23 or 25 hours included)."""
    assert plan.start is not None and plan.end is not None
    if plan.bucket is None:
        ends = pd.DatetimeIndex([plan.end.tz_convert(plan.zone)] * len(starts))
    elif plan.bucket.unit == "fixed":
        ends = starts + pd.Timedelta(seconds=plan.bucket.seconds)
    else:
        offset = pd.DateOffset(days=1) if plan.bucket.unit == "day" else pd.DateOffset(months=1)
        naive = starts.tz_localize(None) + offset
        ends = naive.tz_localize(plan.zone, ambiguous=True, nonexistent="shift_forward")
    lower = starts.map(lambda s: max(s, plan.start))
    upper = ends.map(lambda e: min(e, plan.end))
    return pd.Series((upper - lower).total_seconds(), index=starts)


def shape(plan: Plan, long: pd.DataFrame) -> pd.DataFrame:
    """The query's DataFrame from the long rows of any dialect."""
    rows = long.copy()
    rows[VALUE] = pd.to_numeric(rows[VALUE], errors="coerce").astype("float64")
    grouped = plan.group is not None
    if not grouped:
        rows[TAG] = plan.value_name
    rows[TAG] = rows[TAG].astype(str)
    if plan.kind == "top":
        return _top(plan, rows)
    if plan.kind == "bill":
        months = pd.to_datetime(rows[BILLING_PERIOD].astype(str), format="%Y-%m")
        rows[TIME] = months.dt.tz_localize(plan.zone, ambiguous=True, nonexistent="shift_forward")
        return _pivot(plan, rows)
    if plan.bucket is None or TIME not in rows or rows[TIME].isna().all():
        assert plan.start is not None
        rows[TIME] = plan.start
    rows[TIME] = utc_times(rows[TIME]).dt.tz_convert(plan.zone)
    if plan.bucket is not None and plan.bucket.unit == "month":
        rows[TIME] = _month_starts(rows[TIME], plan)  # InfluxQL's days into months
        rows = rows.groupby([TIME, TAG], as_index=False)[VALUE].agg(plan.aggregate)
    if plan.window_s is not None:
        rows[VALUE] = rows[VALUE] * (3600 / plan.window_s)  # kWh in the window -> mean kW
    if plan.kind == "load_profile":
        rows[TIME] = rows[TIME].dt.hour.astype("int64")
        rows = rows.groupby([TIME, TAG], as_index=False)[VALUE].mean()  # kWh in 1 h = kW
        frame = _pivot(plan, rows)
        frame.index.name = "hour"
        return frame
    frame = _pivot(plan, rows)
    if plan.kind == "completeness" and len(frame):
        seconds = _bucket_seconds(pd.DatetimeIndex(frame.index), plan)
        frame = frame.fillna(0.0).div(seconds.to_numpy(), axis=0)  # no reading: 0 % covered
    return frame


def _pivot(plan: Plan, rows: pd.DataFrame) -> pd.DataFrame:
    try:  # one value per (time, group), as every dialect answers
        frame = rows.set_index([TIME, TAG])[VALUE].unstack(TAG)
    except ValueError:  # repeated (time, group) pairs: add them up
        frame = rows.pivot_table(index=TIME, columns=TAG, values=VALUE, aggfunc="sum")
    frame = frame.sort_index().sort_index(axis=1).astype("float64")
    frame.index.name = TIME
    frame.columns.name = plan.group
    if isinstance(frame.index, pd.DatetimeIndex):
        frame.index = frame.index.as_unit("ns")
    return _described(plan, frame)


def _top(plan: Plan, rows: pd.DataFrame) -> pd.DataFrame:
    totals = rows.groupby(TAG)[VALUE].sum().sort_values(ascending=False, kind="stable")
    frame = totals.head(plan.limit).to_frame(plan.value_name)
    frame.index.name = plan.group
    return _described(plan, frame)


def _described(plan: Plan, frame: pd.DataFrame) -> pd.DataFrame:
    frame.attrs = {
        "kind": plan.kind,
        "value": plan.value_name,
        "unit": plan.unit,
        "timezone": plan.timezone,
        "group": plan.group,
    }
    return frame
