"""The bridge keeps each plant's bill so far in `billing`, and rebuilds it after a restart."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from tests.bridge.conftest import StartBridge, count_points, wait_for
from tests.support.services import InfluxDB1, Mosquitto, publish_lines

pytestmark = pytest.mark.integration


def latest_plant_bill(influx: InfluxDB1, database: str) -> dict:
    rows = influx.query(
        "SELECT last(energy_kwh) AS energy_kwh, last(total) AS total, last(readings) AS readings"
        " FROM billing WHERE plant = 'sea' AND scope = 'plant'",
        db=database,
    )
    return rows[0] if rows else {"energy_kwh": 0, "total": 0, "readings": 0}


def test_bill_so_far_is_written_and_survives_a_restart(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    bridge = start_bridge(mosquitto, influxdb, influx_db_name)
    now = int(time.time())
    end = now - now % 300
    # Twelve 5-minute readings of the last hour (this billing period, unless it just began).
    readings = [{"ts": end - 300 * i, "energy_kwh": 10.0 + i} for i in range(12)]
    seattle = ZoneInfo("America/Los_Angeles")
    if (
        datetime.fromtimestamp(end - 3600, seattle).month
        != datetime.fromtimestamp(end, seattle).month
    ):
        pytest.skip("the last hour crosses a month boundary: run again in an hour")
    publish_lines(
        mosquitto, "kilowatch/sea/assembly-01/readings", [orjson.dumps(readings).decode()]
    )
    wait_for("stored readings", lambda: count_points(influxdb, influx_db_name), 12)
    wait_for(
        "readings counted in the bill",
        lambda: int(latest_plant_bill(influxdb, influx_db_name)["readings"]),
        12,
    )
    before = latest_plant_bill(influxdb, influx_db_name)
    assert before["energy_kwh"] == pytest.approx(sum(r["energy_kwh"] for r in readings))
    costs = influxdb.query("SELECT sum(cost) FROM energy", db=influx_db_name)[0]["sum"]
    assert before["total"] >= costs > 0  # energy at least; demand and fixed charges on top

    bridge.stop()
    since = bridge.log_size()
    bridge.start()
    bridge.wait_for_log("subscribed to", since=since)
    restarted = time.time()
    wait_for(
        "a billing point written after the restart",
        lambda: int(
            bool(
                influxdb.query(
                    f"SELECT total FROM billing WHERE time > {int(restarted)}s AND scope = 'plant'",
                    db=influx_db_name,
                )
            )
        ),
        1,
    )
    after = latest_plant_bill(influxdb, influx_db_name)
    assert after["energy_kwh"] == pytest.approx(before["energy_kwh"])
    assert after["total"] == pytest.approx(before["total"])
