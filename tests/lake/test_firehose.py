"""Lake records to Firehose: JSON lines within Firehose's limits, sent with PutRecordBatch.

moto stands in for Firehose (Direct PUT -> S3). It shows the records arrive and decode back to
the same records; it cannot show deaggregation, dynamic partitioning, the Parquet conversion
or buffering (tests/lake/test_views.py emulates those on real Parquet files), nor refuse
entries (a wrapper around the moto client refuses some to exercise the resending).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import msgspec
import pytest
from moto import mock_aws

from kilowatch.lake.firehose import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_LINES_PER_RECORD,
    LakeDeliveryError,
    batches,
    payloads,
    put_records,
)
from kilowatch.lake.schema import LakeRecord

REGION = "us-east-1"
STREAM = "kilowatch-lake"
BUCKET = "kilowatch-lake-data"


def _records(count: int, *, plant: str = "hmo") -> list[LakeRecord]:
    return [
        LakeRecord(
            plant=plant,
            dt="2026-11-20",
            ts=1_795_000_000 + 300 * i,
            time=(1_795_000_000 + 300 * i) * 1000,
            line="press",
            meter=f"press-{i % 3:02d}",
            period="base",
            tariff="cfe-gdmth@2026",
            currency="MXN",
            energy_kwh=1.0 + i / 10,
            cost=2.0 + i / 10,
            rate=2.0,
            interval_s=300,
            costed_at=1_795_100_000_000,
            seq=i if i % 2 else None,
        )
        for i in range(count)
    ]


def _decode(data: bytes) -> list[LakeRecord]:
    return [msgspec.json.decode(line, type=LakeRecord) for line in data.splitlines()]


def test_payloads_are_json_lines_of_at_most_500_records() -> None:
    records = _records(1234)
    found = list(payloads(records))
    assert [len(p.splitlines()) for p in found] == [500, 500, 234]
    assert [r for p in found for r in _decode(p)] == records
    assert all(p.endswith(b"\n") for p in found)
    assert MAX_LINES_PER_RECORD == 500  # Firehose's deaggregation limit per record


def test_a_payload_over_the_size_limit_is_split() -> None:
    records = _records(10)
    size = len(next(payloads(records[:1])))
    found = list(payloads(records, max_bytes=size * 3))
    assert all(len(p) <= size * 3 for p in found)
    assert [r for p in found for r in _decode(p)] == records
    with pytest.raises(ValueError, match="one lake record is"):
        list(payloads(records, max_bytes=size - 1))


def test_batches_keep_to_the_per_call_limits() -> None:
    items = [b"x" * 1000] * 1200
    assert [len(b) for b in batches(items)] == [MAX_BATCH_RECORDS, MAX_BATCH_RECORDS, 200]
    big = [b"y" * (MAX_BATCH_BYTES // 3 + 1)] * 7
    assert [len(b) for b in batches(big)] == [2, 2, 2, 1]
    assert list(batches([])) == []


@pytest.fixture
def firehose() -> Iterator[Any]:
    """A Direct PUT delivery stream into an S3 bucket, in moto."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        client = boto3.client("firehose", region_name=REGION)
        client.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "readings/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            },
        )
        yield client


def _delivered() -> list[bytes]:
    """The Firehose records moto wrote to S3 (one object per PutRecordBatch call)."""
    s3 = boto3.client("s3", region_name=REGION)
    keys = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="readings/")["Contents"]
    )
    return [s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys]


def test_records_reach_the_stream_and_decode_back(firehose: Any) -> None:
    records = _records(1100) + _records(5, plant="sea")
    assert put_records(firehose, STREAM, records) == 3
    delivered = b"".join(_delivered())
    assert sorted(_decode(delivered), key=lambda r: (r.plant, r.ts)) == sorted(
        records, key=lambda r: (r.plant, r.ts)
    )


class _Refusing:
    """The moto client, refusing the first `refusals` entries of the first call (moto never
    refuses), as Firehose does when throttled."""

    def __init__(self, client: Any, refusals: int, calls_refused: int = 1) -> None:
        self._client = client
        self._refusals = refusals
        self._calls_refused = calls_refused
        self.calls: list[int] = []

    def put_record_batch(self, **kwargs: Any) -> Mapping[str, Any]:
        entries = kwargs["Records"]
        self.calls.append(len(entries))
        if len(self.calls) > self._calls_refused:
            return dict(self._client.put_record_batch(**kwargs))
        refused, rest = entries[: self._refusals], entries[self._refusals :]
        answers = []
        if rest:
            stream = kwargs["DeliveryStreamName"]
            answers = self._client.put_record_batch(DeliveryStreamName=stream, Records=rest)[
                "RequestResponses"
            ]
        error = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
        responses = [error] * len(refused) + answers
        return {"FailedPutCount": len(refused), "RequestResponses": responses}


def test_refused_entries_are_sent_again(firehose: Any) -> None:
    records = _records(1600)  # 4 Firehose records
    client = _Refusing(firehose, refusals=2)
    assert put_records(client, STREAM, records, backoff_s=0) == 4
    assert client.calls == [4, 2]  # only the refused two went again
    delivered = b"".join(_delivered())
    assert sorted(_decode(delivered), key=lambda r: r.ts) == records


def test_entries_refused_every_time_raise(firehose: Any) -> None:
    client = _Refusing(firehose, refusals=1, calls_refused=10)
    with pytest.raises(LakeDeliveryError, match=r"refused 1 record.*ServiceUnavailable") as err:
        put_records(client, STREAM, _records(10), max_attempts=3, backoff_s=0)
    assert err.value.refused == 1
    assert client.calls == [1, 1, 1]
