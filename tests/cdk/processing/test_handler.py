"""The ingest Lambda's handler on real-shaped Kinesis events, into a real InfluxDB 1.x.

Firehose, IoT Core's data plane and Secrets Manager are moto's. What moto cannot show: that
Firehose converts the JSON lines to Parquet against the Glue table and partitions them (moto
writes the raw lines to S3), that a receipt published through `iot-data` reaches the agent
(moto records the publish and routes it nowhere), and Lambda's own runtime (the Kinesis event
source mapping's retries, bisection and on-failure queue acting on the partial-batch answer).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import orjson
import pytest

from kilowatch.contract.receipts import parse_receipt, run_timestamps
from kilowatch.influx.writer import InfluxTarget, InfluxV1Writer
from kilowatch.settings import SettingsError
from tests.cdk.processing.conftest import (
    IOT_DATA_ENDPOINT,
    Lake,
    LambdaContext,
    all_rows,
    measurement_rows,
    published_receipts,
)
from tests.cdk.processing.events import (
    REGION,
    envelope,
    kinesis_event,
    kinesis_record,
    sequence_numbers,
)
from tests.cdk.processing.messages import CONFLICT_METER, message_table
from tests.support.services import InfluxDB1

pytestmark = pytest.mark.integration


def _settings(
    handler_module: ModuleType, plant_file: Path, influx: InfluxDB1, database: str, **more: Any
) -> Any:
    return handler_module.IngestSettings(
        config=plant_file,
        influx_url=influx.url,
        influx_bucket=database,
        influx_version="1",
        retry_initial_s=0.05,
        retry_max_s=0.1,
        retry_attempts=2,
        **more,
    )


def _emf(text: str) -> list[dict[str, Any]]:
    """The EMF metric documents Powertools printed."""
    docs = [orjson.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return [doc for doc in docs if "CloudWatchMetrics" in doc["_aws"]]


def test_a_batch_is_stored_sent_to_the_lake_receipted_and_counted(
    handler_module: ModuleType,
    strict_plant_file: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    lake: Lake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Settings from the environment, the token from Secrets Manager, the whole table."""
    now = time.time()
    table = message_table(now)
    influxdb.write(influx_db_name, table.seed_line, precision="ns")
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="influx-writer", SecretString=orjson.dumps({"token": "writer-token"}).decode()
    )
    env = {
        "KILOWATCH_CONFIG": str(strict_plant_file),
        "KILOWATCH_INFLUX_URL": influxdb.url,
        "KILOWATCH_INFLUX_BUCKET": influx_db_name,
        "KILOWATCH_INFLUX_VERSION": "1",
        "KILOWATCH_INFLUX_TOKEN_SECRET_ARN": secret["ARN"],
        "KILOWATCH_FIREHOSE_STREAM": lake.stream,
        "KILOWATCH_IOT_DATA_ENDPOINT": IOT_DATA_ENDPOINT,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    event = kinesis_event(table.messages, received_at_ms=int(now * 1000))

    response = handler_module.handler(event, LambdaContext())

    assert response == {"batchItemFailures": []}
    energy = measurement_rows(influxdb, influx_db_name, "energy")
    stored = {(r["plant"], r["meter"], r["time"] // 10**9) for r in energy if r["plant"] != "seed"}
    conflict = (table.conflict_ts, table.conflict_ts + 300)
    assert ("hmo", CONFLICT_METER, conflict[0]) not in stored  # refused by InfluxDB
    assert ("hmo", CONFLICT_METER, conflict[1]) in stored
    assert len(stored) == 1 + 5 + 3 + 100 + 2 + 1  # the repeat is stored once
    lake_keys = Counter((r["plant"], r["meter"], r["ts"]) for r in lake.records())
    assert set(lake_keys) == stored  # the lake holds what InfluxDB holds
    assert lake_keys[("sea", "assembly-01", table.base_ts)] == 2  # both copies: views keep one
    first_lake = next(r for r in lake.records() if r["meter"] == "paint-oven")
    assert first_lake["currency"] == "MXN" and first_lake["dt"] and first_lake["cost"] > 0

    plant_info = measurement_rows(influxdb, influx_db_name, "plant_info")
    assert sorted(row["plant"] for row in plant_info) == ["hmo", "sea"]
    reasons = Counter(r["reason"] for r in measurement_rows(influxdb, influx_db_name, "rejected"))
    assert reasons["storage_rejected"] == 1
    assert reasons["unknown_meter"] == reasons["unknown_plant"] - 1 == 1

    receipts = {
        (r.plant, r.agent): r for r in (parse_receipt(t, p) for t, p in published_receipts())
    }
    assert sorted(receipts) == [("hmo", "edge-hmo"), ("sea", "edge-sea")]
    hmo = receipts["hmo", "edge-hmo"]
    assert [ts for run in hmo.stored["press-01"] for ts in run_timestamps(run)] == [
        table.base_ts + 300 * k for k in range(5)
    ]
    assert [ts for run in hmo.stored[CONFLICT_METER] for ts in run_timestamps(run)] == [conflict[1]]
    (refused,) = hmo.rejected
    assert (refused.meter, refused.reason) == (CONFLICT_METER, "storage_rejected")
    assert [ts for run in refused.runs for ts in run_timestamps(run)] == [conflict[0]]
    sea_reasons = {r.reason for r in receipts["sea", "edge-sea"].rejected}
    assert {"future_ts", "invalid_ts"} <= sea_reasons

    metrics = _emf(capsys.readouterr().out)
    stored_metric = {
        doc["plant"]: doc["ReadingsStored"] for doc in metrics if "ReadingsStored" in doc
    }
    assert stored_metric == {"hmo": [5 + 3 + 100 + 1], "sea": [1 + 1 + 2]}  # the repeat too
    for doc in metrics:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "kilowatch"
        if "ReadingsStored" in doc:  # what the silent-plant alarms match
            assert directive["Dimensions"] == [["plant", "service"]]
            assert doc["service"] == "kilowatch-ingest"
    batch = next(doc for doc in metrics if "RecordsReceived" in doc)
    assert batch["RecordsReceived"] == [len(table.messages)]
    assert batch["ReceiptsSent"] == [2]


def test_malformed_records_are_reported_failed_and_the_others_stored(
    handler_module: ModuleType,
    strict_plant_file: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    aws: None,
) -> None:
    now = time.time()
    good = message_table(now).messages[:2]
    event = kinesis_event(good, received_at_ms=int(now * 1000))
    ok = envelope(*good[0], client_id="edge-sea", received_at_ms=int(now * 1000))
    bad_data = [
        b"not json at all",
        b"[1, 2]",
        orjson.dumps({"payload": "AAAA", "received_at_ms": 1}),  # no topic
        orjson.dumps({"payload": "AAAA", "topic": good[0][0], "received_at_ms": "soon"}),
        orjson.dumps({"payload": "%%%", "topic": good[0][0], "received_at_ms": 1}),
    ]
    bad = [kinesis_record(data, key="sea/assembly-01") for data in bad_data]
    not_base64 = kinesis_record(ok, key="sea/assembly-01")
    not_base64["kinesis"]["data"] = "***"
    event["Records"][1:1] = [*bad, not_base64]
    app = handler_module.build_app(
        _settings(handler_module, strict_plant_file, influxdb, influx_db_name)
    )

    outcome = app.handle(event["Records"])

    expected = sequence_numbers(event)[1:-1]
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": s} for s in expected]}
    assert outcome.malformed == len(expected)
    assert len(measurement_rows(influxdb, influx_db_name, "energy")) == 1 + 5


def test_a_replayed_batch_changes_nothing(
    handler_module: ModuleType,
    strict_plant_file: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    lake: Lake,
) -> None:
    """The same records again, in the same container and in a new one: every measurement
    (`rejected` too) holds exactly the same points. (plant_info points, the rate at the time
    of writing, are off here: they are not derived from the records.)"""
    now = time.time()
    table = message_table(now)
    influxdb.write(influx_db_name, table.seed_line, precision="ns")
    event = kinesis_event(table.messages, received_at_ms=int(now * 1000))
    settings = _settings(
        handler_module,
        strict_plant_file,
        influxdb,
        influx_db_name,
        firehose_stream=lake.stream,
        iot_data_endpoint=IOT_DATA_ENDPOINT,
        plant_info_interval_s=0,
    )
    app = handler_module.build_app(settings)
    assert app.handle(event["Records"]).failed == []
    first = all_rows(influxdb, influx_db_name)

    assert app.handle(event["Records"]).failed == []
    assert all_rows(influxdb, influx_db_name) == first
    later = handler_module.build_app(settings)  # a new container: new layout caches
    assert later.handle(event["Records"][3:]).failed == []  # a retry from a later record
    assert all_rows(influxdb, influx_db_name) == first
    assert {"energy", "rejected", "agent_status"} == set(first)


def test_when_influxdb_is_down_every_record_fails_and_nothing_is_sent_on(
    handler_module: ModuleType,
    strict_plant_file: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    lake: Lake,
) -> None:
    """Nothing stored: the whole batch is reported (Lambda retries it), no lake record and
    no receipt went out for it."""
    from kilowatch.config import load_config
    from kilowatch.processing import Processor

    now = time.time()
    settings = _settings(
        handler_module,
        strict_plant_file,
        influxdb,
        influx_db_name,
        firehose_stream=lake.stream,
        iot_data_endpoint=IOT_DATA_ENDPOINT,
    )
    dead = InfluxV1Writer(InfluxTarget(url="http://127.0.0.1:9", bucket=influx_db_name))
    app = handler_module.IngestApp(
        settings,
        Processor(load_config(strict_plant_file)),
        dead,
        firehose=boto3.client("firehose", region_name=REGION),
        iot_data=boto3.client("iot-data", endpoint_url=f"https://{IOT_DATA_ENDPOINT}"),
    )
    event = kinesis_event(message_table(now).messages[:3], received_at_ms=int(now * 1000))

    outcome = app.handle(event["Records"])

    assert outcome.failed == sequence_numbers(event)
    assert outcome.stored_by_plant == {}
    assert lake.records() == []
    assert published_receipts() == []


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_a_wrong_setting_stops_the_cold_start_naming_it(
    handler_module: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KILOWATCH_CONFIG", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("KILOWATCH_TOPIC_PREFIX", "bad prefix")
    with pytest.raises(SettingsError) as caught:
        handler_module.handler({"Records": []}, LambdaContext())
    assert "KILOWATCH_CONFIG: plant file" in str(caught.value)
    assert "KILOWATCH_TOPIC_PREFIX" in str(caught.value)


def test_secrets_hold_json_or_the_value_alone(handler_module: ModuleType, aws: None) -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    as_json = client.create_secret(Name="a", SecretString='{"token": "t1", "url": "x"}')["ARN"]
    alone = client.create_secret(Name="b", SecretString="https://key@sentry.example/1\n")["ARN"]
    empty = client.create_secret(Name="c", SecretString='{"url": "x"}')["ARN"]
    assert handler_module.secret_value(client, as_json, "token") == "t1"
    assert handler_module.secret_value(client, alone, "dsn") == "https://key@sentry.example/1"
    with pytest.raises(ValueError, match="no 'token'"):
        handler_module.secret_value(client, empty, "token")


def test_sentry_starts_only_when_its_secret_is_configured(
    handler_module: ModuleType,
    strict_plant_file: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    aws: None,
) -> None:
    """moto holds the DSN; no event is sent (nothing fails), so Sentry's servers are not needed."""
    import sentry_sdk
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

    settings = _settings(handler_module, strict_plant_file, influxdb, influx_db_name)
    handler_module.build_app(settings)
    assert not sentry_sdk.get_client().is_active()
    dsn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="sentry", SecretString='{"dsn": "https://public@127.0.0.1:9/1"}'
    )["ARN"]
    try:
        handler_module.build_app(settings.model_copy(update={"sentry_dsn_secret_arn": dsn}))
        client = sentry_sdk.get_client()
        assert client.is_active()
        assert client.get_integration(AwsLambdaIntegration) is not None
        assert client.options["environment"] == "dev"
    finally:
        sentry_sdk.init()  # no DSN: inactive again
        handler_module._sentry = False


def test_the_readme_lists_every_setting_with_its_default(handler_module: ModuleType) -> None:
    readme = (Path(handler_module.__file__ or "").parent / "README.md").read_text()
    for name, field in handler_module.IngestSettings.model_fields.items():
        default = field.default
        default = default.get_secret_value() if hasattr(default, "get_secret_value") else default
        shown = f"`{default}`" if default != "" else "unset"
        row = f"| `KILOWATCH_{name.upper()}` | {shown} | {field.description} |"
        assert row in readme, row


def test_a_receipt_goes_only_to_the_thing_that_sent_the_readings(
    handler_module: ModuleType,
    strict_plant_file: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    aws: None,
) -> None:
    """A message naming another agent than its publisher's client id is stored, unreceipted."""
    now = time.time()
    topic, payload = message_table(now).messages[0]  # names agent edge-sea
    received_ms = int(now * 1000)
    records = [
        kinesis_record(
            envelope(topic, payload, client_id=sender, received_at_ms=received_ms),
            key="sea/assembly-01",
        )
        for sender in ("someone-else", "edge-sea")
    ]
    settings = _settings(
        handler_module,
        strict_plant_file,
        influxdb,
        influx_db_name,
        iot_data_endpoint=IOT_DATA_ENDPOINT,
    )
    app = handler_module.build_app(settings)

    assert app.handle(records[:1]).stored_by_plant == {"sea": 1}
    assert published_receipts() == []
    assert app.handle(records[1:]).receipts_sent == 1
    ((receipt_topic, _),) = published_receipts()
    assert receipt_topic == "kilowatch/sea/_agents/edge-sea/receipts"
