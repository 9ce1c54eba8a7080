"""Through the real bridge: messages published to Mosquitto are stored by `kilowatch bridge` in
InfluxDB 1.x; the same messages become lake records as the Lambda makes them. The views'
figures are InfluxDB's sums of what the bridge stored, by plant, line, meter, day and period.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kilowatch.config import load_config
from kilowatch.lake.firehose import payloads
from kilowatch.lake.schema import batch_records
from kilowatch.processing import Processor
from tests.lake.helpers import (
    PLANT_FILE,
    Lake,
    assert_same,
    influx_daily,
    lake_daily,
    messages,
)
from tests.support.services import (
    BackgroundProcess,
    InfluxDB1,
    Mosquitto,
    kilowatch_argv,
    publish_lines,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def bridge(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> Iterator[BackgroundProcess]:
    """`kilowatch bridge` on the example plant file, from `mosquitto` into `influx_db_name`."""
    env = {
        "KILOWATCH_CONFIG": str(PLANT_FILE),
        "KILOWATCH_MQTT_URL": mosquitto.url,
        "KILOWATCH_MQTT_CLIENT_ID": "bridge-to-lake",
        "KILOWATCH_INFLUX_URL": influxdb.url,
        "KILOWATCH_INFLUX_BUCKET": influx_db_name,
        "KILOWATCH_RETRY_MAX_S": "1",
    }
    process = BackgroundProcess(kilowatch_argv("bridge"), env=env, log_path=tmp_path / "bridge.log")
    process.start()
    process.wait_for_log("subscribed to")
    yield process
    process.stop()


def _stored(influx: InfluxDB1, db: str) -> int:
    rows = influx.query('SELECT count("energy_kwh") FROM "energy"', db=db)
    return int(rows[0]["count"]) if rows else 0


def test_the_views_match_what_the_bridge_stored(
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    bridge: BackgroundProcess,
    tmp_path: Path,
) -> None:
    now = time.time()
    stop = int(now) // 900 * 900 - 900
    batch = messages(stop - 3 * 86_400, stop, now)
    for message in batch:
        publish_lines(mosquitto, message.topic, [message.payload.decode()])

    processor = Processor(load_config(PLANT_FILE))
    processed = processor.process(batch, now)
    lake = Lake(tmp_path / "lake")
    lake.deliver(payloads(batch_records(processed, processor.tariffs, int(now * 1000))))

    deadline = time.monotonic() + 60
    while _stored(influxdb, influx_db_name) < processed.readings and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _stored(influxdb, influx_db_name) == processed.readings, bridge.log_tail()

    con = lake.connect()
    daily, by_period = lake_daily(con)
    zones = {plant.id: plant.zone for plant in load_config(PLANT_FILE).plants}
    days = {dt for _, dt, _, _ in daily}
    assert len(days) >= 3
    daily_influx, period_influx = influx_daily(influxdb, influx_db_name, zones, days)
    assert_same(daily, daily_influx)
    assert_same(by_period, period_influx)
