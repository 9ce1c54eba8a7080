"""Tag values that try to break out of a query are matched as plain text in every dialect.

Points with such values are written straight to InfluxDB 1.x (the bridge refuses such ids),
then a filter on each value must return that series alone, with bound parameters and with
escaped literals; SQL does the same on DuckDB and DataFusion, and Flux's own parser must read
each string literal back as the exact value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import datafusion
import duckdb
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.influx.lineprotocol import format_point
from kilowatch.query import DataFusionRunner, DuckDBRunner, InfluxQLRunner, Query, Runner, run
from kilowatch.query.influxql import quote_string as influxql_string
from kilowatch.query.sql import quote_string as sql_string
from tests.query.conftest import FluxCheck
from tests.support.services import InfluxDB1

HOSTILE = [
    "it's",
    "' OR 1=1 --",
    "x' OR 'a'='a",
    'double "quoted"',
    "back\\slash",
    "trailing\\'",
    "${interpolated}",
    "semi; DROP MEASUREMENT energy",
    "/regex.*/",
    "unicode ümlaut ☃",
]
NOT_STORED = ["new\nline", "' OR ''='", "tab\there", '") |> drop() //', "$p0"]
FIRST_END = int(pd.Timestamp("2026-03-01T00:05:00Z").timestamp())
READINGS = 12  # one hour of 5-minute readings per line


def _query(line: str) -> Query:
    return (
        Query.energy(plant="x")
        .tz("UTC")
        .between("2026-03-01", "2026-03-02")
        .where(line=line)
        .by("line")
    )


def _points() -> list[tuple[str, int, float]]:
    """(line, ts, energy_kwh): each line gets its own energies, so sums tell them apart."""
    values = ["normal", *HOSTILE]
    return [
        (line, FIRST_END + 300 * i, float(index + 1))
        for index, line in enumerate(values)
        for i in range(READINGS)
    ]


def _expected(line: str) -> float:
    return sum(kwh for name, _, kwh in _points() if name == line)


@pytest.mark.integration
@pytest.mark.parametrize("bind", [True, False], ids=["params", "escaped"])
def test_influxql_matches_hostile_values_exactly(
    influxdb: InfluxDB1, influx_db_name: str, bind: bool
) -> None:
    influxdb.write(
        influx_db_name,
        [
            format_point(
                "energy",
                {"plant": "x", "line": line, "meter": "m", "period": "p"},
                {"energy_kwh": kwh, "cost": kwh, "interval_s": 300},
                ts * 1_000_000_000,
            )
            for line, ts, kwh in _points()
        ],
        precision="ns",
    )
    runner = InfluxQLRunner(influxdb.url, influx_db_name, bind=bind)
    for line in HOSTILE:
        got = run(runner, _query(line))
        assert list(got.columns) == [line]
        assert got.iloc[0, 0] == pytest.approx(_expected(line)), line
    for line in NOT_STORED:
        assert run(runner, _query(line)).empty, line
    # The stored points are still all there: nothing was dropped or rewritten.
    total = Query.energy(plant="x").tz("UTC").between("2026-03-01", "2026-03-02")
    assert run(runner, total).iloc[0, 0] == pytest.approx(sum(k for _, _, k in _points()))


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "time": pd.Timestamp(ts, unit="s"),
                "plant": "x",
                "line": line,
                "meter": "m",
                "period": "p",
                "energy_kwh": kwh,
                "interval_s": 300,
            }
            for line, ts, kwh in _points()
        ]
    ).astype({"time": "datetime64[ns]"})


def _duckdb() -> DuckDBRunner:
    connection = duckdb.connect()
    connection.register("points", _rows())
    connection.execute("CREATE TABLE energy AS SELECT * FROM points")
    return DuckDBRunner(connection)


def _datafusion() -> DataFusionRunner:
    context = datafusion.SessionContext()
    context.register_record_batches("energy", [pa.Table.from_pandas(_rows()).to_batches()])
    return DataFusionRunner(context)


@pytest.mark.parametrize("make", [_duckdb, _datafusion], ids=["duckdb", "datafusion"])
def test_sql_matches_hostile_values_exactly(make: Callable[[], Runner]) -> None:
    runner = make()
    for line in HOSTILE:
        got = run(runner, _query(line))
        assert list(got.columns) == [line]
        assert got.iloc[0, 0] == pytest.approx(_expected(line)), line
    for line in NOT_STORED:
        assert run(runner, _query(line)).empty, line
    total = Query.energy(plant="x").tz("UTC").between("2026-03-01", "2026-03-02")
    assert run(runner, total).iloc[0, 0] == pytest.approx(sum(k for _, _, k in _points()))


def test_flux_parser_reads_each_hostile_value_back_exactly(flux_check: FluxCheck) -> None:
    values = HOSTILE + NOT_STORED
    results = flux_check([_query(v).render("flux").text for v in values])
    for value, result in zip(values, results, strict=True):
        assert result["syntax"] and result["semantic"], (value, result["error"])
        assert value in result["strings"], (value, result["strings"])


@pytest.fixture(scope="module")
def duck_connection() -> Any:
    """One DuckDB connection for every example (opening one per example took 3-4 s)."""
    return duckdb.connect()


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_sql_string_literals_read_back_as_the_value(duck_connection: Any, value: str) -> None:
    value = value.replace("\x00", "")  # DuckDB strings cannot hold NUL
    row = duck_connection.execute(f"SELECT {sql_string(value)} AS v").fetchone()
    assert row == (value,)


@given(st.text())
def test_influxql_string_literals_never_end_early(value: str) -> None:
    literal = influxql_string(value)
    body = literal[1:-1]
    # Every quote and newline inside is escaped, so the literal ends only at its last quote.
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        assert body[i] not in "'\n", literal
        i += 1
