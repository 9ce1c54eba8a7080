"""What the IoT rules put on Kinesis, and the Lambda event Kinesis makes of it, as plain data.

IoT Core cannot run here (moto never executes rule actions), so the record the rules build is
written down once, next to the SQL that builds it (`infrastructure.RECORD_SELECT`); the tests
check that the two agree. The Lambda's tests and benchmarks build real-shaped events with
`kinesis_event`; the handler itself parses the shape documented in cdk/README.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

EVENT_SOURCE_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/kilowatch-test"


@dataclass(frozen=True, kw_only=True)
class DeviceMessage:
    """One MQTT message as IoT Core received it."""

    topic: str
    payload: bytes
    client_id: str
    received_at_ms: int


def rule_record(message: DeviceMessage) -> dict[str, Any]:
    """The JSON object the rule's SELECT makes of a message (see RECORD_SELECT)."""
    return {
        "payload": base64.b64encode(message.payload).decode("ascii"),
        "topic": message.topic,
        "client_id": message.client_id,
        "received_at_ms": message.received_at_ms,
    }


def partition_key(topic: str) -> str:
    """The rule's partition key: `${topic(2)}/${topic(3)}` (readings), `.../_agents/${topic(4)}`."""
    levels = topic.split("/")
    if len(levels) == 5 and levels[2] == "_agents":
        return f"{levels[1]}/_agents/{levels[3]}"
    # topic(n) of a missing level is empty in IoT SQL.
    return f"{levels[1] if len(levels) > 1 else ''}/{levels[2] if len(levels) > 2 else ''}"


def kinesis_event(
    messages: Iterable[DeviceMessage],
    *,
    first_sequence: int = 1,
    stream_arn: str = EVENT_SOURCE_ARN,
) -> dict[str, Any]:
    """A Lambda event of a Kinesis stream holding these messages in order, as the rule put them."""
    records: list[dict[str, Any]] = []
    for offset, message in enumerate(messages):
        data = json.dumps(rule_record(message), separators=(",", ":")).encode()
        sequence = str(first_sequence + offset).zfill(56)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": partition_key(message.topic),
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode("ascii"),
                    "approximateArrivalTimestamp": message.received_at_ms / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/kilowatch-test-processing",
                "awsRegion": "us-east-1",
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": records}


def decode_record(record: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A Lambda Kinesis record back to (rule record, payload bytes): what the handler must do."""
    body: dict[str, Any] = json.loads(base64.b64decode(record["kinesis"]["data"]))
    return body, base64.b64decode(body["payload"])


def selected_names(select: str) -> Sequence[str]:
    """The output names of a `SELECT expr AS name, ...` clause (for the agreement test)."""
    parts, depth, current = [], 0, ""
    for char in select.removeprefix("SELECT "):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.rsplit(" AS ", 1)[1].strip() for part in parts]
