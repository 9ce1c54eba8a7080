"""One core, two adapters: the same MQTT messages through Mosquitto and the real bridge, and
through the Lambda handler as real-shaped Kinesis records, store the same points in InfluxDB.

Both databases are on the same real InfluxDB 1.x; both use the same strict plant file. What
differs, and is left out of the comparison, says where the adapters differ by design:
- `rejected` points are stamped with the message's receive time (the bridge's clock, IoT Core's
  in the records), so their times are not compared; a `future_ts` detail names how far ahead
  the reading was at that time, so its seconds are not compared either;
- the bridge's own points (`kilowatch_bridge` health, `billing` running bills) and
  `plant_info` (the rate at the time of writing) are not derived from the messages.
What this cannot show: the IoT rule producing the records (moto runs no rule actions; the
records are built as cdk/README.md documents the rule's SQL), and a message over IoT Core's
128 KB limit, which IoT Core refuses before any rule (the bridge sets it aside).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import pytest

from kilowatch.contract import RejectReason
from tests.bridge.conftest import StartBridge, count_points, publish_raw, wait_for
from tests.cdk.processing.conftest import LambdaContext, measurement_rows
from tests.cdk.processing.events import kinesis_event
from tests.cdk.processing.messages import message_table
from tests.support.services import InfluxDB1, Mosquitto

pytestmark = pytest.mark.integration

COMPARED = ("energy", "agent_status", "rejected")


def _comparable(rows: list[dict[str, Any]], measurement: str) -> list[str]:
    """The rows as sorted texts, without what differs by design (see the module docstring)."""
    out = []
    for row in rows:
        if measurement == "rejected":
            row = {k: v for k, v in row.items() if k != "time"}
            if row["reason"] == "future_ts":
                row["detail"] = re.sub(r"\d+ s in", "N s in", row["detail"])
        out.append(repr(sorted(row.items())))
    return sorted(out)


def test_the_bridge_and_the_lambda_store_the_same_points(
    handler_module: ModuleType,
    strict_plant_file: Path,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = time.time()
    table = message_table(now)
    bridge_db, lambda_db = influx_db_name, f"{influx_db_name}_lambda"
    influxdb.create_database(lambda_db)
    try:
        for database in (bridge_db, lambda_db):
            influxdb.write(database, table.seed_line, precision="ns")

        for name, value in {
            "KILOWATCH_CONFIG": str(strict_plant_file),
            "KILOWATCH_INFLUX_URL": influxdb.url,
            "KILOWATCH_INFLUX_BUCKET": lambda_db,
            "KILOWATCH_INFLUX_VERSION": "1",
        }.items():
            monkeypatch.setenv(name, value)
        event = kinesis_event(table.messages, received_at_ms=int(now * 1000))
        assert handler_module.handler(event, LambdaContext()) == {"batchItemFailures": []}
        expected = {m: measurement_rows(influxdb, lambda_db, m) for m in COMPARED}

        start_bridge(
            mosquitto,
            influxdb,
            bridge_db,
            plant_file=strict_plant_file,
            extra_env={"KILOWATCH_DEMAND_WATCH": "false"},
        )
        for topic, payload in table.messages:
            publish_raw(mosquitto, topic, payload)
        for measurement in COMPARED:
            wait_for(
                f"{measurement} points stored by the bridge",
                lambda m=measurement: count_points(influxdb, bridge_db, m),
                count_points(influxdb, lambda_db, measurement),
            )
        time.sleep(0.5)  # anything beyond the expected counts would show now

        for measurement in COMPARED:
            bridge_rows = measurement_rows(influxdb, bridge_db, measurement)
            assert _comparable(bridge_rows, measurement) == _comparable(
                expected[measurement], measurement
            ), measurement
        # The repeat is stored once. (The seed point's only field, a string `seq`, does not show
        # in a query across shards where `seq` is an integer.)
        assert len(expected["energy"]) == 1 + 5 + 3 + 100 + 2 + 1
        reasons = Counter(row["reason"] for row in expected["rejected"])
        assert set(get_args(RejectReason)) - set(reasons) == {"internal_error"}
    finally:
        influxdb.drop_database(lambda_db)
