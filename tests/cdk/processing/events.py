"""Kinesis events shaped as Lambda receives them from the IoT rules (cdk/README.md): each
record's data is base64 of `{"payload": base64 of the MQTT payload, "topic", "client_id",
"received_at_ms"}`, partitioned by `{plant}/{meter}` (status: `{plant}/_agents/{agent}`)."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable
from typing import Any

import orjson

from kilowatch.contract.receipts import message_agent

REGION = "us-east-1"
ACCOUNT = "123456789012"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/kilowatch-test-stream"
SHARD = "shardId-000000000000"
FIRST_SEQUENCE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898
_sequences = itertools.count(FIRST_SEQUENCE, 7)  # Kinesis numbers grow, not by 1


def partition_key(topic: str) -> str:
    """The rules' partition key: `${topic(2)}/${topic(3)}` or `${topic(2)}/_agents/${topic(4)}`."""
    levels = topic.split("/")
    if len(levels) > 3 and levels[2] == "_agents":
        return f"{levels[1]}/_agents/{levels[3]}"
    return "/".join(levels[1:3])


def envelope(topic: str, payload: bytes, *, client_id: str, received_at_ms: int) -> bytes:
    """What the rule's SQL (`SELECT encode(*, 'base64') AS payload, topic() AS topic,
    clientid() AS client_id, timestamp() AS received_at_ms`) puts on the stream."""
    return orjson.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "topic": topic,
            "client_id": client_id,
            "received_at_ms": received_at_ms,
        }
    )


def kinesis_record(data: bytes, *, key: str, sequence: int | None = None) -> dict[str, Any]:
    """One record of a Lambda Kinesis event, as AWS documents it."""
    number = str(next(_sequences) if sequence is None else sequence)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": key,
            "sequenceNumber": number,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1796000000.125,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/kilowatch-ingest",
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(
    messages: Iterable[tuple[str, bytes]],
    *,
    received_at_ms: int,
    client_id: str = "edge-01",
) -> dict[str, Any]:
    """An event of one record per MQTT message, received 1 ms apart; a message naming its
    agent comes from that agent (client id = thing name), the others from `client_id`."""
    return {
        "Records": [
            kinesis_record(
                envelope(
                    topic,
                    payload,
                    client_id=message_agent(payload) or client_id,
                    received_at_ms=received_at_ms + number,
                ),
                key=partition_key(topic),
            )
            for number, (topic, payload) in enumerate(messages)
        ]
    }


def sequence_numbers(event: dict[str, Any]) -> list[str]:
    """The records' sequence numbers, in order."""
    return [record["kinesis"]["sequenceNumber"] for record in event["Records"]]
