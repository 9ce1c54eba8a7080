"""The Athena views' SQL runs on real Parquet files, and its figures are InfluxDB's.

The same batches of MQTT messages go through the processing core twice: as the bridge does
(line protocol, InfluxDB's writer, a real InfluxDB 1.x) and as the Lambda does for the lake
(lake records, Firehose payloads). Firehose's part is done here with the schema it is given:
the JSON lines are split, converted with the Glue table's columns (pyarrow's JSON reader, an
unknown field is an error) and written as Parquet under plant=/dt= as dynamic partitioning
does. DuckDB then runs each view's SQL, transpiled from Athena's dialect by sqlglot, over the
files. Sums per plant, line, meter, local day, tariff period and month must equal InfluxDB's
own sums over the same local days, also after a replayed batch and a corrected reading.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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

from kilowatch.config import load_config
from kilowatch.contract import MAX_READINGS_PER_MESSAGE, Reading, encode_readings, readings_topic
from kilowatch.influx.schema import ENERGY, LineLayout
from kilowatch.influx.writer import InfluxTarget, InfluxV1Writer
from kilowatch.lake.firehose import payloads
from kilowatch.lake.schema import FIELDS, PARTITION_KEYS, TABLE_NAME, arrow_schema, batch_records
from kilowatch.processing import Message, Processor

if TYPE_CHECKING:
    from tests.support.services import InfluxDB1

pytestmark = pytest.mark.integration

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


def _energy_kwh(ts: int, meter: int) -> float:
    """A varied, repeatable energy per interval."""
    return round(0.2 + ((ts // 300) * 7919 + meter * 104_729) % 1000 / 250, 3)


def _messages(
    start: int, stop: int, now: float, *, only: str | None = None, factor: float = 1.0
) -> list[Message]:
    """Every meter's readings over (start, stop], as arrays of up to 1,000 per message."""
    messages = []
    for index, (plant, meter, interval) in enumerate(METERS):
        if only is not None and meter != only:
            continue
        first = (start // interval + 1) * interval
        readings = [
            Reading(plant, meter, ts, _energy_kwh(ts, index) * factor, interval_s=interval)
            for ts in range(first, stop + 1, interval)
        ]
        for at in range(0, len(readings), MAX_READINGS_PER_MESSAGE):
            chunk = readings[at : at + MAX_READINGS_PER_MESSAGE]
            messages.append(Message(readings_topic(plant, meter), encode_readings(chunk), now))
    return messages


def _local_midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, datetime.min.time(), zone).timestamp())


def _influx_sums(
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


def _assert_same(
    lake: dict[tuple[Any, ...], tuple[float, float, int]],
    influx: dict[tuple[Any, ...], tuple[float, float, int]],
) -> None:
    assert lake.keys() == influx.keys()
    for key, (energy, cost, readings) in lake.items():
        expected = influx[key]
        assert energy == pytest.approx(expected[0], rel=REL), key
        assert cost == pytest.approx(expected[1], rel=REL), key
        assert readings == expected[2], key


def test_views_give_influxdbs_figures(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    config = load_config(PLANT_FILE)
    zones = {plant.id: plant.zone for plant in config.plants}
    processor = Processor(config)
    layout = LineLayout()
    writer = InfluxV1Writer(InfluxTarget(influxdb.url, influx_db_name))
    lake = Lake(tmp_path / "lake")

    now = time.time()
    today = datetime.now(UTC).date()
    first_of_last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    start = _local_midnight(first_of_last_month - timedelta(days=1), ZoneInfo("UTC"))
    stop = int(now) - 900

    def run(messages: list[Message], costed_at: float) -> None:
        """One Kinesis batch: costed once, stored by both adapters."""
        processed = processor.process(messages, now)
        assert not processed.rejections
        writer.write([line for lines in layout.batch_lines(processed, messages) for line in lines])
        records = batch_records(processed, processor.tariffs, int(costed_at * 1000))
        lake.deliver(payloads(records))

    run(_messages(start, stop, now), now)
    # A batch retried after a failure: the same readings again, costed later.
    run(_messages(start, start + 3 * 86_400, now), now + 60)
    # A meter's day sent again with other values: the last one counts, in both stores.
    run(_messages(start + 86_400, start + 2 * 86_400, now, only="lighting", factor=3), now + 120)

    con = lake.connect()
    days = {row[0] for row in con.execute("SELECT DISTINCT dt FROM kilowatch_daily").fetchall()}
    assert len(days) >= 28

    # By plant, line, meter and local day; by plant, local day and tariff period.
    daily_influx: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    period_influx: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for plant, zone in zones.items():
        for dt in sorted(days):
            day = date.fromisoformat(dt)
            lo = _local_midnight(day, zone)
            hi = _local_midnight(day + timedelta(days=1), zone)
            for row in _influx_sums(
                influxdb, influx_db_name, plant, lo, hi, '"line", "meter", "period"'
            ):
                for key, sums in (
                    ((plant, dt, row["line"], row["meter"]), daily_influx),
                    ((plant, dt, row["period"]), period_influx),
                ):
                    sums[key][0] += row["energy_kwh"]
                    sums[key][1] += row["cost"]
                    sums[key][2] += row["readings"]
    daily = {
        (plant, dt, line, meter): (energy, cost, readings)
        for plant, dt, line, meter, energy, cost, readings in con.execute(
            "SELECT plant, dt, line, meter, energy_kwh, cost, readings FROM kilowatch_daily"
        ).fetchall()
    }
    _assert_same(daily, {k: (v[0], v[1], int(v[2])) for k, v in daily_influx.items()})
    assert {line for _, _, line, _ in daily} == {
        "press",
        "paint",
        "assembly",
        "utilities",
        "unassigned",
    }
    by_period = {
        (plant, dt, period): (energy, cost, readings)
        for plant, dt, period, energy, cost, readings in con.execute(
            "SELECT plant, dt, period, energy_kwh, cost, readings FROM kilowatch_daily_by_period"
        ).fetchall()
    }
    _assert_same(by_period, {k: (v[0], v[1], int(v[2])) for k, v in period_influx.items()})
    assert len({period for _, _, period in by_period}) >= 3  # TOU periods of both tariffs

    # By plant and local month, summed by InfluxDB over each month's local days.
    monthly = {
        (plant, month): (energy, cost, readings)
        for plant, month, energy, cost, readings in con.execute(
            "SELECT plant, month, energy_kwh, cost, readings FROM kilowatch_monthly"
        ).fetchall()
    }
    monthly_influx = {}
    for plant, month in monthly:
        first = date.fromisoformat(f"{month}-01")
        following = (first + timedelta(days=32)).replace(day=1)
        lo, hi = _local_midnight(first, zones[plant]), _local_midnight(following, zones[plant])
        (row,) = _influx_sums(influxdb, influx_db_name, plant, lo, hi)
        monthly_influx[(plant, month)] = (row["energy_kwh"], row["cost"], row["readings"])
    _assert_same(monthly, monthly_influx)

    # The bill so far: this month and last month in full, no older month.
    so_far = {
        (plant, month): (energy, cost, readings)
        for plant, month, energy, cost, readings in con.execute(
            "SELECT plant, month, energy_kwh, cost, readings FROM kilowatch_bill_so_far"
        ).fetchall()
    }
    months = {first_of_last_month.strftime("%Y-%m"), today.strftime("%Y-%m")}
    assert {month for _, month in so_far} <= months | {
        (today + timedelta(days=1)).strftime("%Y-%m")  # a plant's local month ahead of UTC
    }
    assert {month for _, month in so_far} >= months
    _assert_same(so_far, {key: monthly_influx[key] for key in so_far})
    assert len(monthly) > len(so_far)  # the month before last is in the lake, not in the bill


def test_the_readings_view_keeps_the_newest_costing_of_each_reading(tmp_path: Path) -> None:
    """A repeat with other values replaces the first, whichever delivery holds it."""
    processor = Processor(load_config(PLANT_FILE))
    lake = Lake(tmp_path / "lake")
    now = time.time()
    stop = int(now) // 900 * 900
    first = _messages(stop - 3600, stop, now, only="press-01")
    second = _messages(stop - 1800, stop, now, only="press-01", factor=2)
    # The later costing is delivered first (Firehose does not keep order across records).
    for messages, costed_at in ((second, now + 10), (first, now)):
        processed = processor.process(messages, now)
        lake.deliver(payloads(batch_records(processed, processor.tariffs, int(costed_at * 1000))))
    con = lake.connect()
    rows = con.execute("SELECT ts, energy_kwh FROM kilowatch_readings ORDER BY ts").fetchall()
    index = next(i for i, (_, meter, _) in enumerate(METERS) if meter == "press-01")
    assert rows == [
        (ts, _energy_kwh(ts, index) * (2 if ts > stop - 1800 else 1))
        for ts in range(stop - 3600 + 900, stop + 1, 900)
    ]
    columns = {name for name, *_ in con.execute("DESCRIBE kilowatch_readings").fetchall()}
    assert columns <= {f.name for f in FIELDS} | {"day"}
