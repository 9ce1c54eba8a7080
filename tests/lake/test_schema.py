"""The lake record: one definition giving the Glue and Parquet schemas, and the records made
from the processing core's costed readings (local dates across clock changes)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import msgspec
import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.config import load_config
from kilowatch.contract import Reading, encode_readings, readings_topic
from kilowatch.lake.schema import (
    COLUMNS,
    FIELDS,
    PARTITION_KEYS,
    LakeRecord,
    arrow_schema,
    arrow_table,
    batch_records,
    columns_markdown,
    glue_columns,
    partition_dates,
)
from kilowatch.processing import Message, Processor

REPO_ROOT = Path(__file__).resolve().parents[2]
PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
LA = ZoneInfo("America/Los_Angeles")
# Zones with clock changes, offsets of half and three quarters of an hour, a date-line jump.
ZONES = [
    "America/Los_Angeles",
    "America/Hermosillo",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "America/Santiago",
    "UTC",
]
COSTED_AT_MS = 1_800_000_000_000
# Hive/Glue type -> the DuckDB type of the same Parquet column: an independent reading of the
# files, to show the two renderings of the one definition agree.
DUCKDB_TYPE = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


@pytest.fixture(scope="module")
def processor() -> Processor:
    return Processor(load_config(PLANT_FILE))


def _process(
    processor: Processor, plant: str, meter: str, readings: list[Reading], now: float
) -> list[LakeRecord]:
    message = Message(readings_topic(plant, meter), encode_readings(readings), now)
    processed = processor.process([message], now)
    assert not processed.rejections, processed.rejections
    return batch_records(processed, processor.tariffs, COSTED_AT_MS)


def test_every_record_field_is_a_column_or_a_partition_key() -> None:
    names = [f.name for f in FIELDS]
    assert names == list(LakeRecord.__struct_fields__)
    assert [c.name for c in COLUMNS] == [n for n in names if n not in PARTITION_KEYS]
    assert PARTITION_KEYS == ("plant", "dt")
    types = {c.name: c.type for c in FIELDS}
    assert types["ts"] == "bigint"
    assert types["time"] == types["costed_at"] == "timestamp"
    assert types["interval_s"] == "int"
    assert types["energy_kwh"] == types["cost"] == types["power_factor"] == "double"
    assert types["meter"] == types["period"] == types["currency"] == "string"
    assert all(c.description for c in FIELDS)
    assert [g["name"] for g in glue_columns()] == [c.name for c in COLUMNS]


def test_parquet_written_with_the_schema_reads_back_with_the_glue_types(
    tmp_path: Path, processor: Processor
) -> None:
    records = _process(
        processor,
        "sea",
        "lighting",
        [Reading("sea", "lighting", 1_790_000_100, 1.25, voltage_v=(230.0, 231.0, 229.5))],
        now=1_790_000_200,
    )
    path = tmp_path / "part.parquet"
    table = arrow_table(records).drop_columns(list(PARTITION_KEYS))
    assert table.schema == arrow_schema()
    pq.write_table(table, path)
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert {name: kind for name, kind, *_ in described} == {
        c.name: DUCKDB_TYPE[c.glue_type] for c in COLUMNS
    }
    (row,) = con.execute(
        f"SELECT time, costed_at, voltage_l3 FROM read_parquet('{path}')"
    ).fetchall()
    assert row == (
        datetime(2026, 9, 21, 14, 15),  # 1_790_000_100 s, UTC
        datetime.fromtimestamp(COSTED_AT_MS / 1000, UTC).replace(tzinfo=None),
        229.5,
    )


def test_records_carry_the_points_fields_and_the_plants_context(processor: Processor) -> None:
    ts = 1_790_000_100
    readings = [
        Reading("hmo", "press-01", ts, 2.5, seq=7, power_kw=30.0, reactive_kvarh=0.4),
        Reading("hmo", "press-01", ts + 300, 3.0, current_a=(10.0,), power_factor=0.93),
    ]
    records = _process(processor, "hmo", "press-01", readings, now=ts + 600)
    tariff = processor.tariffs["hmo"]
    costs = tariff.cost_many(np.array([ts, ts + 300]), np.array([300, 300]), np.array([2.5, 3.0]))
    first, second = records
    assert (first.plant, first.line, first.meter, first.tariff) == (
        "hmo",
        "press",
        "press-01",
        tariff.tariff.key,
    )
    assert first.currency == tariff.tariff.currency == "MXN"
    assert (first.ts, first.time, first.interval_s) == (ts, ts * 1000, 300)
    assert [r.cost for r in records] == costs.cost.tolist()
    assert [r.rate for r in records] == costs.rate.tolist()
    assert [r.period for r in records] == costs.period.tolist()
    assert (first.seq, first.power_kw, first.reactive_kvarh) == (7, 30.0, 0.4)
    assert (second.current_l1, second.current_l2, second.power_factor) == (10.0, None, 0.93)
    assert first.costed_at == COSTED_AT_MS
    # Measurements not sent are left out of the JSON (the table holds NULL there).
    sent = msgspec.json.decode(msgspec.json.encode(second))
    assert "seq" not in sent and "voltage_l1" not in sent and sent["current_l1"] == 10.0


def test_meters_missing_from_the_plant_file_go_on_line_unassigned(processor: Processor) -> None:
    (record,) = _process(
        processor, "sea", "new-meter", [Reading("sea", "new-meter", 1_790_000_100, 1.0)], 1.8e9
    )
    assert record.line == "unassigned"


def test_an_interval_ending_at_local_midnight_belongs_to_the_day_it_ends() -> None:
    midnight = int(datetime(2026, 11, 20, tzinfo=LA).timestamp())
    assert partition_dates(np.array([midnight, midnight + 1, midnight - 1]), LA) == [
        "2026-11-19",
        "2026-11-20",
        "2026-11-19",
    ]


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 6, 1), 24)],
)
def test_a_clock_change_day_holds_its_23_or_25_hours_of_readings(
    processor: Processor, day: date, hours: int
) -> None:
    """Seattle's 5-minute readings from two days before to two days after, partitioned."""
    start = int(datetime.combine(day - timedelta(days=2), datetime.min.time(), LA).timestamp())
    stop = int(datetime.combine(day + timedelta(days=3), datetime.min.time(), LA).timestamp())
    readings = [Reading("sea", "lighting", ts, 1.0) for ts in range(start + 300, stop + 1, 300)]
    records = []
    for first in range(0, len(readings), 1000):
        chunk = readings[first : first + 1000]
        records += _process(processor, "sea", "lighting", chunk, now=stop)
    on_day = [r for r in records if r.dt == day.isoformat()]
    assert len(on_day) == hours * 12
    assert sum(r.energy_kwh for r in on_day) == hours * 12
    local_days = {datetime.fromtimestamp(r.ts - 300, LA).date() for r in on_day}
    assert local_days == {day}  # every interval of the partition starts on that local day


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    # Interval ends on the 5-minute grid (so local midnights come up), within two years of a
    # start anywhere in 2000-2040: several clock changes per example, without probing forty
    # years of offsets in each one (what made this test take 17 s).
    start=st.integers(946_684_800, 2_208_988_800).map(lambda t: t - t % 300),
    later=st.lists(st.integers(0, 2 * 366 * 288).map(lambda k: 300 * k), min_size=1, max_size=40),
)
def test_partition_dates_are_the_local_date_of_each_intervals_last_second(
    zone: str, start: int, later: list[int]
) -> None:
    tz = ZoneInfo(zone)
    ts = [start + offset for offset in later]
    expected = [datetime.fromtimestamp(t - 1, tz).date().isoformat() for t in ts]
    assert partition_dates(np.array(ts, dtype=np.int64), tz) == expected


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.integers(946_684_800, 2_200_000_000),
    steps=st.lists(st.integers(1, 7200), min_size=1, max_size=300),
)
def test_partition_dates_of_a_run_of_readings_match_one_by_one(
    zone: str, start: int, steps: list[int]
) -> None:
    """Runs of readings (what a batch holds), across whatever clock changes they meet."""
    tz = ZoneInfo(zone)
    ts = np.cumsum([start, *steps])
    assert partition_dates(ts, tz) == [
        datetime.fromtimestamp(int(t) - 1, tz).date().isoformat() for t in ts
    ]


def test_readings_influxdb_refused_are_left_out(processor: Processor) -> None:
    ts = 1_790_000_100
    readings = [Reading("sea", "lighting", ts + 300 * i, 1.0) for i in range(3)]
    message = Message(readings_topic("sea", "lighting"), encode_readings(readings), 1.8e9)
    processed = processor.process([message], 1.8e9)
    refused = {("sea", "lighting", ts + 300)}
    kept = batch_records(processed, processor.tariffs, COSTED_AT_MS, refused)
    assert [r.ts for r in kept] == [ts, ts + 600]


def test_no_readings_make_no_records(processor: Processor) -> None:
    processed = processor.process([], 1.8e9)
    assert batch_records(processed, processor.tariffs, COSTED_AT_MS) == []
    assert partition_dates(np.array([], dtype=np.int64), LA) == []


def test_the_lake_readme_lists_the_columns_as_defined() -> None:
    readme = REPO_ROOT / "cdk" / "kilowatch_cdk" / "datalake" / "README.md"
    assert columns_markdown() in readme.read_text(encoding="utf-8")


def test_the_lambdas_imports_do_not_load_pyarrow_or_pandas() -> None:
    """The Lambda imports schema and firehose on its cold start; pyarrow is for the tests and
    offline tools (arrow_schema, arrow_table import it when called)."""
    code = (
        "import sys, kilowatch.lake.schema, kilowatch.lake.firehose; "
        "print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
