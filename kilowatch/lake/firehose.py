"""Lake records to Amazon Data Firehose: packed as JSON lines within Firehose's limits, sent
with PutRecordBatch, and the entries Firehose refuses sent again.

Firehose bills each record rounded up to 5 KB, so records go up to 500 to a Firehose record
(newline-delimited JSON); the delivery stream's multi-record deaggregation splits them again
before dynamic partitioning (cdk/kilowatch_cdk/datalake).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from kilowatch.lake.schema import LakeRecord

logger = logging.getLogger(__name__)

# Firehose's limits (docs.aws.amazon.com/firehose/latest/dev/limits.html).
MAX_LINES_PER_RECORD = 500  # JSON records that deaggregation splits out of one Firehose record
MAX_RECORD_BYTES = 1_000 * 1024  # one Firehose record, before base64
MAX_BATCH_RECORDS = 500  # Firehose records per PutRecordBatch call
MAX_BATCH_BYTES = 4 * 1024 * 1024  # data per PutRecordBatch call
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_S = 0.2  # first wait before resending refused entries; doubles, with jitter

_encoder = msgspec.json.Encoder()


class LakeDeliveryError(Exception):
    """Firehose still refused some records after every attempt."""

    def __init__(self, refused: int, error: str) -> None:
        super().__init__(f"Firehose refused {refused} record(s) after retries: {error}")
        self.refused = refused
        self.error = error


class FirehoseClient(Protocol):
    """The one call of boto3's `firehose` client used here."""

    def put_record_batch(self, **kwargs: Any) -> Mapping[str, Any]: ...


def payloads(
    records: Sequence[LakeRecord],
    *,
    lines_per_record: int = MAX_LINES_PER_RECORD,
    max_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[bytes]:
    """Records as Firehose record payloads: JSON lines, at most `lines_per_record` and
    `max_bytes` each."""
    for start in range(0, len(records), lines_per_record):
        yield from _fit(records[start : start + lines_per_record], max_bytes)


def _fit(records: Sequence[LakeRecord], max_bytes: int) -> Iterator[bytes]:
    """One payload of these records, or halves of them until each fits."""
    data = _encoder.encode_lines(records)
    if len(data) <= max_bytes:
        yield data
    elif len(records) == 1:
        raise ValueError(f"one lake record is {len(data)} bytes, over Firehose's {max_bytes}")
    else:
        middle = len(records) // 2
        yield from _fit(records[:middle], max_bytes)
        yield from _fit(records[middle:], max_bytes)


def batches(
    items: Iterable[bytes],
    *,
    max_records: int = MAX_BATCH_RECORDS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> Iterator[list[bytes]]:
    """Payloads grouped into PutRecordBatch calls within Firehose's per-call limits."""
    batch: list[bytes] = []
    size = 0
    for item in items:
        if batch and (len(batch) == max_records or size + len(item) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item)
    if batch:
        yield batch


def put_records(
    client: FirehoseClient,
    stream_name: str,
    records: Sequence[LakeRecord],
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> int:
    """Send records to a delivery stream; returns the Firehose records sent.

    Entries Firehose refuses (throttling, internal errors) are sent again, up to
    `max_attempts` times in all; raises LakeDeliveryError if some are still refused.
    """
    sent = 0
    for batch in batches(payloads(records)):
        pending = batch
        for attempt in range(1, max_attempts + 1):
            response = client.put_record_batch(
                DeliveryStreamName=stream_name, Records=[{"Data": data} for data in pending]
            )
            if not response.get("FailedPutCount"):
                break
            answers = response["RequestResponses"]
            refused = [
                (data, answer)
                for data, answer in zip(pending, answers, strict=True)
                if answer.get("ErrorCode")
            ]
            pending = [data for data, _ in refused]
            error = f"{refused[0][1].get('ErrorCode')}: {refused[0][1].get('ErrorMessage', '')}"
            if attempt == max_attempts:
                raise LakeDeliveryError(len(pending), error)
            logger.warning(
                "Firehose refused %d of %d record(s) (%s); sending them again",
                len(pending),
                len(answers),
                error,
            )
            time.sleep(backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
        sent += len(batch)
    return sent
