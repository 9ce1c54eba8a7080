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

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from kilowatch.config import load_config
from kilowatch.influx.schema import LineLayout
from kilowatch.influx.writer import InfluxTarget, InfluxV1Writer
from kilowatch.lake.firehose import payloads
from kilowatch.lake.schema import FIELDS, batch_records
from kilowatch.processing import Message, Processor
from tests.lake.helpers import (
    METERS,
    PLANT_FILE,
    Lake,
    assert_same,
    energy_kwh,
    influx_daily,
    influx_sums,
    lake_daily,
    local_midnight,
    messages,
)

if TYPE_CHECKING:
    from tests.support.services import InfluxDB1

pytestmark = pytest.mark.integration


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
    start = local_midnight(first_of_last_month - timedelta(days=1), ZoneInfo("UTC"))
    stop = int(now) - 900

    def run(batch: list[Message], costed_at: float) -> None:
        """One Kinesis batch: costed once, stored by both adapters."""
        processed = processor.process(batch, now)
        assert not processed.rejections
        writer.write([line for lines in layout.batch_lines(processed, batch) for line in lines])
        records = batch_records(processed, processor.tariffs, int(costed_at * 1000))
        lake.deliver(payloads(records))

    run(messages(start, stop, now), now)
    # A batch retried after a failure: the same readings again, costed later.
    run(messages(start, start + 3 * 86_400, now), now + 60)
    # A meter's day sent again with other values: the last one counts, in both stores.
    run(messages(start + 86_400, start + 2 * 86_400, now, only="lighting", factor=3), now + 120)

    con = lake.connect()
    days = {row[0] for row in con.execute("SELECT DISTINCT dt FROM kilowatch_daily").fetchall()}
    assert len(days) >= 28

    # By plant, line, meter and local day; by plant, local day and tariff period.
    daily, by_period = lake_daily(con)
    daily_influx, period_influx = influx_daily(influxdb, influx_db_name, zones, days)
    assert_same(daily, daily_influx)
    lines = {"press", "paint", "assembly", "utilities", "unassigned"}
    assert {line for _, _, line, _ in daily} == lines
    assert_same(by_period, period_influx)
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
        lo, hi = local_midnight(first, zones[plant]), local_midnight(following, zones[plant])
        (row,) = influx_sums(influxdb, influx_db_name, plant, lo, hi)
        monthly_influx[(plant, month)] = (row["energy_kwh"], row["cost"], row["readings"])
    assert_same(monthly, monthly_influx)

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
    assert_same(so_far, {key: monthly_influx[key] for key in so_far})
    assert len(monthly) > len(so_far)  # the month before last is in the lake, not in the bill


def test_the_readings_view_keeps_the_newest_costing_of_each_reading(tmp_path: Path) -> None:
    """A repeat with other values replaces the first, whichever delivery holds it."""
    processor = Processor(load_config(PLANT_FILE))
    lake = Lake(tmp_path / "lake")
    now = time.time()
    stop = int(now) // 900 * 900
    first = messages(stop - 3600, stop, now, only="press-01")
    second = messages(stop - 1800, stop, now, only="press-01", factor=2)
    # The later costing is delivered first (Firehose does not keep order across records).
    for batch, costed_at in ((second, now + 10), (first, now)):
        processed = processor.process(batch, now)
        lake.deliver(payloads(batch_records(processed, processor.tariffs, int(costed_at * 1000))))
    con = lake.connect()
    rows = con.execute("SELECT ts, energy_kwh FROM kilowatch_readings ORDER BY ts").fetchall()
    index = next(i for i, (_, meter, _) in enumerate(METERS) if meter == "press-01")
    assert rows == [
        (ts, energy_kwh(ts, index) * (2 if ts > stop - 1800 else 1))
        for ts in range(stop - 3600 + 900, stop + 1, 900)
    ]
    columns = {name for name, *_ in con.execute("DESCRIBE kilowatch_readings").fetchall()}
    assert columns <= {f.name for f in FIELDS} | {"day"}
