"""Every query kind on what the bridge stored: InfluxDB 1.x (InfluxQL); the SQL rendering on
DuckDB and on DataFusion (InfluxDB 3's engine) over the same points laid out as InfluxDB 3
stores them; InfluxData's Flux parser.

Expected values are computed here in pandas straight from the raw points (one row per reading,
read back with SELECT *), bucketed by each reading's interval START in the plant's local time:
an independent route to the same answer, not kilowatch.query's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import datafusion
import duckdb
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from kilowatch.query import DataFusionRunner, DuckDBRunner, InfluxQLRunner, Query, run
from tests.query.conftest import PLANT_FILE, FluxCheck, Stored

pytestmark = pytest.mark.integration

ZONES = {"hmo": "America/Hermosillo", "sea": "America/Los_Angeles"}
START, END = "2026-10-28", "2026-11-05"  # local; Seattle's 1 Nov 2026 has 25 hours


def readings(stored: Stored, plant: str) -> pd.DataFrame:
    """The plant's raw points in the range, with each interval's start in local time."""
    zone = ZONES[plant]
    df = stored.energy[stored.energy["plant"] == plant].copy()
    df["start"] = df["time"] - pd.to_timedelta(df["interval_s"], unit="s")
    first = pd.Timestamp(START, tz=zone)
    last = pd.Timestamp(END, tz=zone)
    df = df[(df["start"] >= first) & (df["start"] < last)].copy()
    df["local"] = df["start"].dt.tz_convert(zone)
    wall = df["local"].dt.tz_localize(None)
    df["day"] = wall.dt.floor("D").dt.tz_localize(zone)
    df["month"] = wall.dt.to_period("M").dt.start_time.dt.tz_localize(zone)
    return df


def wide(
    rows: pd.DataFrame, index: str, group: str | None, value: str, agg: str, name: str
) -> pd.DataFrame:
    """Pivot expected rows: index x group, or one column `name` without a group."""
    if group is None:
        frame = rows.groupby(index)[value].agg(agg).to_frame(name)
        frame.columns.name = None
    else:
        frame = rows.pivot_table(index=index, columns=group, values=value, aggfunc=agg)
    frame.index.name = "time"
    if isinstance(frame.index, pd.DatetimeIndex):
        frame.index = frame.index.as_unit("ns")
    return frame.astype("float64")


def windows(rows: pd.DataFrame, group: str | None, seconds: int) -> pd.DataFrame:
    """Energy summed over fixed windows (by interval start, UTC-aligned) and per group, as kW."""
    keys = [rows["start"].dt.floor(f"{seconds}s")] + ([rows[group]] if group else [])
    sums = rows.groupby(keys)["energy_kwh"].sum().reset_index()
    sums = sums.rename(columns={"start": "window"})
    sums["kw"] = sums["energy_kwh"] * 3600 / seconds
    zone = rows["local"].dt.tz
    local = sums["window"].dt.tz_convert(zone).dt.tz_localize(None)
    sums["day"] = local.dt.floor("D").dt.tz_localize(zone)
    sums["month"] = local.dt.to_period("M").dt.start_time.dt.tz_localize(zone)
    sums["hour"] = local.dt.hour.astype("int64")
    return sums


@dataclass(frozen=True)
class Case:
    name: str
    query: Callable[[str], Query]
    expected: Callable[[Stored, str], pd.DataFrame]


def _q(kind: Callable[[str], Query]) -> Callable[[str], Query]:
    return lambda plant: kind(plant).using(PLANT_FILE).between(START, END)


def _energy_by_day(group: str | None, field: str) -> Callable[[Stored, str], pd.DataFrame]:
    return lambda s, p: wide(readings(s, p), "day", group, field, "sum", field)


def _demand(
    group: str | None, every: str, agg: str, seconds: int, name: str
) -> Callable[[Stored, str], pd.DataFrame]:
    return lambda s, p: wide(windows(readings(s, p), group, seconds), every, group, "kw", agg, name)


def _hourly_sum(s: Stored, p: str) -> pd.DataFrame:
    rows = readings(s, p)
    rows["hour_start"] = rows["start"].dt.floor("h").dt.tz_convert(ZONES[p])
    return wide(rows, "hour_start", "meter", "energy_kwh", "sum", "energy_kwh")


def _top(s: Stored, p: str) -> pd.DataFrame:
    totals = readings(s, p).groupby("meter")["energy_kwh"].sum().sort_values(ascending=False)
    return totals.head(3).to_frame("energy_kwh")


def _profile(s: Stored, p: str) -> pd.DataFrame:
    sums = windows(readings(s, p), "line", 3600)
    frame = sums.pivot_table(index="hour", columns="line", values="kw", aggfunc="mean")
    return frame.astype("float64")


def _completeness(s: Stored, p: str) -> pd.DataFrame:
    rows = readings(s, p)
    frame = wide(rows, "day", "meter", "interval_s", "sum", "interval_s")
    days = pd.DatetimeIndex(frame.index)
    next_days = (days.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(ZONES[p])
    return frame.div((next_days - days).total_seconds().to_numpy(), axis=0)


def _bill(s: Stored, p: str) -> pd.DataFrame:
    bills = s.billing[(s.billing["plant"] == p) & (s.billing["scope"] == "plant")]
    last = bills.sort_values("time").groupby("billing_period")["total"].last()
    index = pd.to_datetime(last.index, format="%Y-%m").tz_localize(ZONES[p]).as_unit("ns")
    frame = pd.DataFrame({"total": last.to_numpy()}, index=pd.DatetimeIndex(index, name="time"))
    return frame.astype("float64")


CASES = [
    Case(
        "energy by line per day",
        lambda p: _q(Query.energy)(p).by("line").every("1d"),
        _energy_by_day("line", "energy_kwh"),
    ),
    Case(
        "cost by TOU period per day",
        lambda p: _q(Query.energy)(p).by("period").every("1d").sum("cost"),
        _energy_by_day("period", "cost"),
    ),
    Case(
        "energy per month (local)",
        lambda p: _q(Query.energy)(p).every("1mo"),
        lambda s, p: wide(readings(s, p), "month", None, "energy_kwh", "sum", "energy_kwh"),
    ),
    Case(
        "energy by meter per hour",
        lambda p: _q(Query.energy)(p).by("meter").every("1h"),
        _hourly_sum,
    ),
    Case(
        "energy of one line over the range",
        lambda p: _q(Query.energy)(p).where(line=["press", "assembly"]).by("meter"),
        lambda s, p: wide(
            readings(s, p)[readings(s, p)["line"].isin(["press", "assembly"])].assign(
                day=pd.Timestamp(START, tz=ZONES[p])
            ),
            "day",
            "meter",
            "energy_kwh",
            "sum",
            "energy_kwh",
        ),
    ),
    Case(
        "15-min demand by line per day",
        lambda p: _q(Query.demand)(p).by("line").every("1d"),
        _demand("line", "day", "max", 900, "demand_kw"),
    ),
    Case(
        "plant demand per month",
        lambda p: _q(Query.demand)(p).every("1mo"),
        _demand(None, "month", "max", 900, "demand_kw"),
    ),
    Case(
        "base load (1 h) per day",
        lambda p: _q(Query.base_load)(p).every("1d"),
        _demand(None, "day", "min", 3600, "base_load_kw"),
    ),
    Case("top 3 meters", lambda p: Query.top(p, n=3).using(PLANT_FILE).between(START, END), _top),
    Case("load profile by line", lambda p: _q(Query.load_profile)(p).by("line"), _profile),
    Case("completeness per meter per day", lambda p: _q(Query.completeness)(p), _completeness),
    Case(
        "the bill so far",
        lambda p: Query.bill(p).using(PLANT_FILE).between("2026-10-01", "2026-12-01"),
        _bill,
    ),
]
IDS = [case.name for case in CASES]


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got,
        expected,
        check_freq=False,
        check_names=False,
        check_column_type=False,
        rtol=1e-9,
        atol=1e-9,
    )


@pytest.mark.parametrize("plant", sorted(ZONES))
@pytest.mark.parametrize("bind", [True, False], ids=["params", "escaped"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_influxql_on_influxdb1_matches_the_raw_points(
    stored: Stored, case: Case, plant: str, bind: bool
) -> None:
    runner = InfluxQLRunner(stored.influx.url, stored.database, bind=bind)
    got = run(runner, case.query(plant))
    expected = case.expected(stored, plant)
    assert len(got) > 0
    if isinstance(got.index, pd.DatetimeIndex):
        assert str(got.index.tz) == ZONES[plant]
    same(got, expected)


def test_the_published_readings_are_what_was_stored(stored: Stored) -> None:
    published = stored.published.sort_values(["plant", "meter", "ts"]).reset_index(drop=True)
    energy = stored.energy.assign(ts=stored.energy["time"].astype("int64") // 10**9)
    energy = energy.sort_values(["plant", "meter", "ts"]).reset_index(drop=True)
    assert energy[["plant", "meter", "ts"]].equals(published[["plant", "meter", "ts"]])
    assert (energy["energy_kwh"] == published["energy_kwh"]).all()


def test_seattle_day_of_the_clock_change_has_25_hours(stored: Stored) -> None:
    query = Query.completeness("sea").using(PLANT_FILE).between(START, END)
    query = query.where(meter="assembly-01")
    got = run(InfluxQLRunner(stored.influx.url, stored.database), query)
    fall_back = pd.Timestamp("2026-11-01", tz=ZONES["sea"])
    assert got.loc[fall_back, "assembly-01"] == pytest.approx(1.0)  # 300 readings, 25 hours
    energy = Query.energy("sea").using(PLANT_FILE).between(START, END).every("1d")
    by_day = run(
        InfluxQLRunner(stored.influx.url, stored.database), energy.where(meter="assembly-01")
    )
    raw = readings(stored, "sea")
    on_day = raw[(raw["meter"] == "assembly-01") & (raw["day"] == fall_back)]
    assert len(on_day) == 25 * 12
    assert by_day.loc[fall_back].iloc[0] == pytest.approx(on_day["energy_kwh"].sum(), rel=1e-12)


def test_the_gap_shows_in_completeness(stored: Stored) -> None:
    query = Query.completeness("sea").using(PLANT_FILE).between(START, END)
    got = run(InfluxQLRunner(stored.influx.url, stored.database), query)
    gap_day = pd.Timestamp("2026-11-02", tz=ZONES["sea"])
    assert got.loc[gap_day, "lighting"] == pytest.approx(20 / 24)
    assert got.loc[gap_day, "assembly-01"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def duck(stored: Stored) -> DuckDBRunner:
    """DuckDB with the stored points as InfluxDB 3 lays them out: a table per measurement,
    tags and fields as columns, `time` as a timestamp without zone (UTC)."""
    connection = duckdb.connect()
    for name, frame in (("energy", stored.energy), ("billing", stored.billing)):
        table = frame.assign(time=frame["time"].dt.tz_localize(None))
        connection.register("points", table)
        connection.execute(f'CREATE TABLE "{name}" AS SELECT * FROM points')
        connection.unregister("points")
    return DuckDBRunner(connection)


@pytest.mark.parametrize("plant", sorted(ZONES))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sql_on_duckdb_gives_the_same_dataframe(
    stored: Stored, duck: DuckDBRunner, case: Case, plant: str
) -> None:
    influxql = run(InfluxQLRunner(stored.influx.url, stored.database), case.query(plant))
    sql = run(duck, case.query(plant))
    pd.testing.assert_frame_equal(sql, influxql, check_freq=False, rtol=1e-9, atol=1e-9)
    assert sql.attrs == influxql.attrs


@pytest.fixture(scope="module")
def fusion(stored: Stored) -> DataFusionRunner:
    """DataFusion (InfluxDB 3's engine) over the same layout: the points as Arrow tables."""
    context = datafusion.SessionContext()
    for name, frame in (("energy", stored.energy), ("billing", stored.billing)):
        table = frame.assign(time=frame["time"].dt.tz_localize(None).astype("datetime64[ns]"))
        context.register_record_batches(name, [pa.Table.from_pandas(table).to_batches()])
    return DataFusionRunner(context)


@pytest.mark.parametrize("plant", sorted(ZONES))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sql_on_datafusion_gives_the_same_dataframe(
    stored: Stored, fusion: DataFusionRunner, case: Case, plant: str
) -> None:
    influxql = run(InfluxQLRunner(stored.influx.url, stored.database), case.query(plant))
    sql = run(fusion, case.query(plant))
    pd.testing.assert_frame_equal(sql, influxql, check_freq=False, rtol=1e-9, atol=1e-9)


def test_every_flux_rendering_passes_influxdatas_parser(flux_check: FluxCheck) -> None:
    scripts = [case.query(plant).render("flux") for case in CASES for plant in sorted(ZONES)]
    results = flux_check([s.text for s in scripts])
    for script, result in zip(scripts, results, strict=True):
        assert result["syntax"], (result["error"], script.text)
        assert result["semantic"], (result["error"], script.text)


@pytest.mark.parametrize("plant", sorted(ZONES))
def test_the_bill_so_far_counts_the_months_energy(stored: Stored, plant: str) -> None:
    query = Query.bill(plant).using(PLANT_FILE).between("2026-11-01", "2026-12-01")
    got = run(InfluxQLRunner(stored.influx.url, stored.database), query.value("energy_kwh"))
    raw = stored.energy[stored.energy["plant"] == plant]
    start = raw["time"] - pd.to_timedelta(raw["interval_s"], unit="s")
    in_november = start.dt.tz_convert(ZONES[plant]).dt.strftime("%Y-%m") == "2026-11"
    november = pd.Timestamp("2026-11-01", tz=ZONES[plant])
    assert list(got.index) == [november]
    assert got.attrs["unit"] == "kWh"
    assert got.loc[november, "energy_kwh"] == pytest.approx(raw[in_november]["energy_kwh"].sum())
