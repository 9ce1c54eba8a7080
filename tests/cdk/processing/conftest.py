"""Fixtures for the ingest Lambda's tests: the handler module, a strict plant file, moto AWS."""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from tests.bridge.conftest import start_bridge  # noqa: F401  (the fixture, for the two adapters)
from tests.cdk.processing.events import ACCOUNT, REGION
from tests.support.services import REPO_ROOT, InfluxDB1

RUNTIME = REPO_ROOT / "cdk" / "kilowatch_cdk" / "processing" / "runtime"
IOT_DATA_ENDPOINT = f"data-ats.iot.{REGION}.amazonaws.com"  # a host moto's iot-data answers
LAKE_BUCKET = "kilowatch-test-lake"
LAKE_STREAM = "kilowatch-test-lake"
POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "kilowatch-ingest",
    "POWERTOOLS_METRICS_NAMESPACE": "kilowatch",
}


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The runtime's `handler` module, imported as Lambda does (its folder on sys.path)."""
    for name, value in POWERTOOLS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(RUNTIME))
    module = sys.modules.get("handler") or importlib.import_module("handler")
    assert Path(module.__file__ or "").parent == RUNTIME
    module.reset()
    yield module
    module.reset()


@pytest.fixture
def strict_plant_file(tmp_path: Path) -> Path:
    """The example plant file (and its tariffs) with accept_unknown_meters: false."""
    folder = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", folder)
    path = folder / "kilowatch.example.yaml"
    text = path.read_text(encoding="utf-8")
    assert "accept_unknown_meters: true" in text
    path.write_text(text.replace("accept_unknown_meters: true", "accept_unknown_meters: false"))
    return path


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every boto3 client made inside the test (fake credentials, one region)."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@dataclass
class Lake:
    """A Firehose DirectPut stream into an S3 bucket (moto), and what reached the bucket."""

    stream: str
    bucket: str

    def records(self) -> list[dict[str, Any]]:
        """Every JSON line of every object in the bucket (moto writes one object per call)."""
        import boto3

        s3 = boto3.client("s3", region_name=REGION)
        out = []
        for item in s3.list_objects_v2(Bucket=self.bucket).get("Contents", []):
            body = s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
            out += [orjson.loads(line) for line in body.splitlines() if line.strip()]
        return out


@pytest.fixture
def lake(aws: None) -> Lake:
    """The data lake's delivery stream, as far as moto goes (no Parquet conversion, no
    dynamic partitioning, no multi-record deaggregation: the bucket holds the JSON lines)."""
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket=LAKE_BUCKET)
    boto3.client("firehose", region_name=REGION).create_delivery_stream(
        DeliveryStreamName=LAKE_STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
            "BucketARN": f"arn:aws:s3:::{LAKE_BUCKET}",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64},
        },
    )
    return Lake(LAKE_STREAM, LAKE_BUCKET)


def published_receipts() -> list[tuple[str, bytes]]:
    """(topic, payload) of every iot-data publish moto received (it routes them nowhere)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iotdata.models import iotdata_backends

    return list(iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "kilowatch-ingest"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:kilowatch-ingest"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def measurement_rows(influx: InfluxDB1, database: str, measurement: str) -> list[dict[str, Any]]:
    """Every point of a measurement (tags and fields, time in ns), sorted."""
    rows = influx.query(f'SELECT * FROM "{measurement}"', db=database, epoch="ns")
    return sorted(rows, key=lambda row: orjson.dumps(row, option=orjson.OPT_SORT_KEYS))


def all_rows(influx: InfluxDB1, database: str) -> dict[str, list[dict[str, Any]]]:
    """Every measurement's points."""
    names = [row["name"] for row in influx.query("SHOW MEASUREMENTS", db=database)]
    return {name: measurement_rows(influx, database, name) for name in names}
