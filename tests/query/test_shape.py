"""The shaping of rows into the query's DataFrame: pure, whatever the dialect."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.query import DuckDBRunner, Query, run, shape
from tests.query.test_bridge_data import CASES, IDS, Case

ZONE = "America/Los_Angeles"


@pytest.fixture(scope="module")
def empty() -> DuckDBRunner:
    """DuckDB with the two measurements' columns and no rows."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE energy (time TIMESTAMP_NS, plant VARCHAR, line VARCHAR, meter VARCHAR, "
        "period VARCHAR, energy_kwh DOUBLE, cost DOUBLE, interval_s BIGINT)"
    )
    connection.execute(
        "CREATE TABLE billing (time TIMESTAMP_NS, plant VARCHAR, scope VARCHAR, meter VARCHAR, "
        "billing_period VARCHAR, total DOUBLE, energy_kwh DOUBLE)"
    )
    return DuckDBRunner(connection)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_query_that_matches_nothing_is_an_empty_frame(empty: DuckDBRunner, case: Case) -> None:
    got = run(empty, case.query("sea"))
    assert got.empty
    assert got.attrs["kind"] == case.query("sea").kind


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 90), st.sampled_from(["a", "b"]), st.floats(0, 1e6)),
        min_size=1,
        max_size=60,
        unique_by=lambda row: row[:2],
    )
)
def test_local_days_add_up_into_the_same_months_as_months_asked_for(
    rows: list[tuple[int, str, float]],
) -> None:
    """InfluxQL has no months: its local days, rolled up, equal the months SQL and Flux give."""
    query = Query.energy("sea").tz(ZONE).between("2026-09-01", "2026-12-31").by("line")
    monthly = query.every("1mo").plan()
    days = pd.DatetimeIndex(
        [pd.Timestamp("2026-09-01", tz=ZONE) + pd.DateOffset(days=day) for day, _, _ in rows]
    )
    by_day = pd.DataFrame(
        {
            "time": days.tz_convert("UTC").as_unit("ns").asi8,
            "tag": [line for _, line, _ in rows],
            "value": [kwh for _, _, kwh in rows],
        }
    )
    month_starts = days.tz_localize(None).to_period("M").start_time.tz_localize(ZONE)
    by_month = (
        pd.DataFrame({"time": month_starts, "tag": by_day["tag"], "value": by_day["value"]})
        .groupby(["time", "tag"], as_index=False)["value"]
        .sum()
    )
    by_month["time"] = by_month["time"].dt.tz_convert("UTC")
    pd.testing.assert_frame_equal(
        shape(monthly, by_day), shape(monthly, by_month), check_freq=False, rtol=1e-12
    )
