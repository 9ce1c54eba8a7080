"""Shared by the lake tests: Firehose's part done on real Parquet files, the views in DuckDB,
test readings as MQTT messages, and InfluxDB's own sums over a plant's local days."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.json as pj
import pytest
import sqlglot
from kilowatch_cdk.datalake.views import views

from kilowatch.contract import MAX_READINGS_PER_MESSAGE, Reading, encode_readings, readings_topic
from kilowatch.influx.schema import ENERGY
from kilowatch.lake.schema import PARTITION_KEYS, TABLE_NAME, arrow_schema
from kilowatch.processing import Message

if TYPE_CHECKING:
    from tests.support.services import InfluxDB1

Sums = dict[tuple[Any, ...], tuple[float, float, int]]  # key -> (energy_kwh, cost, readings)

REPO_ROOT = Path(__file__).resolve().parents[2]
PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
# (plant, meter, interval_s): declared meters, one the plant file lacks (line "unassigned"),
# 5- and 15-minute intervals.
METERS = [
    ("hmo", "press-01", 900),
    ("hmo", "paint-oven", 900),
    ("sea", "assembly-01", 300),
    ("sea", "lighting", 300),
    ("sea", "spare-9", 300),
]
REL = 1e-9  # sums of the same floats in another order


@dataclass
class Lake:
    """The Parquet files of every delivery, and DuckDB with the table and the views."""

    root: Path
    deliveries: int = 0

    def deliver(self, data: Iterable[bytes]) -> None:
        """What Firehose does with the payloads: deaggregate, convert, partition, write."""
        lines = b"".join(data)  # each payload is JSON lines; deaggregation splits them
        # The JSON carries timestamps as Unix ms (the Hive JSON SerDe's "millis"): read them
        # as integers, then convert to the table's types, as Firehose's converter does.
        target = arrow_schema(with_partitions=True)
        as_json = pa.schema(
            pa.field(f.name, pa.int64()) if pa.types.is_timestamp(f.type) else f for f in target
        )
        table = pj.read_json(
            io.BytesIO(lines),
            parse_options=pj.ParseOptions(
                explicit_schema=as_json, unexpected_field_behavior="error"
            ),
        ).cast(target)
        ds.write_dataset(
            table,
            self.root,
            format="parquet",
            partitioning=ds.partitioning(
                pa.schema([target.field(key) for key in PARTITION_KEYS]), flavor="hive"
            ),
            basename_template=f"delivery-{self.deliveries}-{{i}}.parquet",
            existing_data_behavior="overwrite_or_ignore",
        )
        self.deliveries += 1

    def connect(self) -> duckdb.DuckDBPyConnection:
        """DuckDB with table `readings` over the files and every view created from its SQL."""
        con = duckdb.connect()
        con.execute(
            f"CREATE VIEW {TABLE_NAME} AS SELECT * FROM read_parquet("
            f"'{self.root}/**/*.parquet', hive_partitioning = true, "
            "hive_types = {'plant': VARCHAR, 'dt': VARCHAR})"
        )
        for view in views():
            (statement,) = sqlglot.transpile(view.statement, read="athena", write="duckdb")
            con.execute(statement)
        return con


def energy_kwh(ts: int, meter: int) -> float:
    """A varied, repeatable energy per interval."""
    return round(0.2 + ((ts // 300) * 7919 + meter * 104_729) % 1000 / 250, 3)


def messages(
    start: int, stop: int, now: float, *, only: str | None = None, factor: float = 1.0
) -> list[Message]:
    """Every meter's readings over (start, stop], as arrays of up to 1,000 per message."""
    messages = []
    for index, (plant, meter, interval) in enumerate(METERS):
        if only is not None and meter != only:
            continue
        first = (start // interval + 1) * interval
        readings = [
            Reading(plant, meter, ts, energy_kwh(ts, index) * factor, interval_s=interval)
            for ts in range(first, stop + 1, interval)
        ]
        for at in range(0, len(readings), MAX_READINGS_PER_MESSAGE):
            chunk = readings[at : at + MAX_READINGS_PER_MESSAGE]
            messages.append(Message(readings_topic(plant, meter), encode_readings(chunk), now))
    return messages


def local_midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, datetime.min.time(), zone).timestamp())


def influx_sums(
    influx: InfluxDB1, db: str, plant: str, lo: int, hi: int, by: str = ""
) -> list[dict[str, Any]]:
    """InfluxDB's own sums of the plant's `energy` points with lo < time <= hi."""
    group = f" GROUP BY {by}" if by else ""
    return influx.query(
        f'SELECT sum("energy_kwh") AS energy_kwh, sum("cost") AS cost, '
        f'count("energy_kwh") AS readings FROM "{ENERGY}" '
        f"WHERE \"plant\" = '{plant}' AND time > {lo}s AND time <= {hi}s{group}",
        db=db,
    )


def assert_same(lake: Sums, influx: Sums) -> None:
    """The same keys, and per key the same sums (to float rounding) and counts."""
    assert lake.keys() == influx.keys()
    for key, (energy, cost, readings) in lake.items():
        expected = influx[key]
        assert energy == pytest.approx(expected[0], rel=REL), key
        assert cost == pytest.approx(expected[1], rel=REL), key
        assert readings == expected[2], key


def influx_daily(
    influx: InfluxDB1, db: str, zones: dict[str, ZoneInfo], days: Iterable[str]
) -> tuple[Sums, Sums]:
    """InfluxDB's sums by (plant, dt, line, meter) and by (plant, dt, period), each local day
    being lo < time <= hi between the plant's midnights."""
    daily: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    by_period: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for plant, zone in zones.items():
        for dt in sorted(days):
            day = date.fromisoformat(dt)
            lo = local_midnight(day, zone)
            hi = local_midnight(day + timedelta(days=1), zone)
            for row in influx_sums(influx, db, plant, lo, hi, '"line", "meter", "period"'):
                for key, sums in (
                    ((plant, dt, row["line"], row["meter"]), daily),
                    ((plant, dt, row["period"]), by_period),
                ):
                    sums[key][0] += row["energy_kwh"]
                    sums[key][1] += row["cost"]
                    sums[key][2] += row["readings"]
    return (
        {k: (v[0], v[1], int(v[2])) for k, v in daily.items()},
        {k: (v[0], v[1], int(v[2])) for k, v in by_period.items()},
    )


def lake_daily(con: duckdb.DuckDBPyConnection) -> tuple[Sums, Sums]:
    """The views' figures by (plant, dt, line, meter) and by (plant, dt, period)."""
    daily = {
        (plant, dt, line, meter): (energy, cost, readings)
        for plant, dt, line, meter, energy, cost, readings in con.execute(
            "SELECT plant, dt, line, meter, energy_kwh, cost, readings FROM kilowatch_daily"
        ).fetchall()
    }
    by_period = {
        (plant, dt, period): (energy, cost, readings)
        for plant, dt, period, energy, cost, readings in con.execute(
            "SELECT plant, dt, period, energy_kwh, cost, readings FROM kilowatch_daily_by_period"
        ).fetchall()
    }
    return daily, by_period
