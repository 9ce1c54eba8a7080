"""The record the IoT rules put on Kinesis (ingest/records.py) agrees with their SQL and keys."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kilowatch_cdk.ingest.infrastructure import RECORD_SELECT
from kilowatch_cdk.ingest.records import (
    DeviceMessage,
    decode_record,
    kinesis_event,
    partition_key,
    rule_record,
    selected_names,
)

from tests.cdk.helpers import resources_of

MESSAGE = DeviceMessage(
    topic="kilowatch/hmo/press-01/readings",
    payload=b'[{"ts": 1796068800, "energy_kwh": 3.2}]',
    client_id="hmo-edge-01",
    received_at_ms=1796068800123,
)


def test_the_record_has_exactly_the_fields_the_sql_selects() -> None:
    assert list(rule_record(MESSAGE)) == list(selected_names(RECORD_SELECT))


def test_partition_keys_follow_the_rules_templates(template_json: dict[str, Any]) -> None:
    keys = sorted(
        r["Properties"]["TopicRulePayload"]["Actions"][0]["Kinesis"]["PartitionKey"]
        for r in resources_of(template_json, "AWS::IoT::TopicRule").values()
    )
    assert keys == ["${topic(2)}/${topic(3)}", "${topic(2)}/_agents/${topic(4)}"]
    assert partition_key("kilowatch/hmo/press-01/readings") == "hmo/press-01"
    assert partition_key("kilowatch/hmo/_agents/edge-01/status") == "hmo/_agents/edge-01"


@given(payload=st.binary(max_size=2048))
def test_any_payload_bytes_survive_the_rule_and_kinesis(payload: bytes) -> None:
    """Invalid JSON, invalid UTF-8, arrays: the handler gets the device's exact bytes."""
    message = DeviceMessage(topic=MESSAGE.topic, payload=payload, client_id="c", received_at_ms=1)
    (record,) = kinesis_event([message])["Records"]
    body, raw = decode_record(record)
    assert raw == payload
    assert body["topic"] == MESSAGE.topic and body["client_id"] == "c"


def test_event_keeps_order_and_names_the_shard_sequence() -> None:
    event = kinesis_event([MESSAGE, MESSAGE], first_sequence=41)
    sequences = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert sequences == [str(41).zfill(56), str(42).zfill(56)]
    assert [r["eventSource"] for r in event["Records"]] == ["aws:kinesis"] * 2
    body = json.loads(base64.b64decode(event["Records"][0]["kinesis"]["data"]))
    assert body["received_at_ms"] == 1796068800123
