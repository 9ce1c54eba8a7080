"""The health message: what the agent sends is what the bridge parses and stores."""

from __future__ import annotations

import json

import pytest

from kilowatch.contract import (
    AgentStatus,
    Rejection,
    parse_agent_status,
    status_subscription,
    status_topic,
)
from tests.support.examples import AGENT_STATUS as STATUS

TOPIC = "kilowatch/plant-a/_agents/edge-1/status"


def test_topic_and_subscription() -> None:
    assert status_topic("plant-a", "edge-1") == TOPIC
    assert status_subscription() == "kilowatch/+/_agents/+/status"


def test_what_the_agent_sends_parses_back_to_the_same_status() -> None:
    assert parse_agent_status(TOPIC, STATUS.encode()) == STATUS


def test_plant_and_agent_come_from_the_topic_not_the_payload() -> None:
    payload = json.dumps({**STATUS.to_json(), "plant": "other", "agent": "spoofed"}).encode()
    parsed = parse_agent_status(TOPIC, payload)
    assert isinstance(parsed, AgentStatus)
    assert (parsed.plant, parsed.agent) == ("plant-a", "edge-1")


def test_a_minimal_status_has_defaults() -> None:
    parsed = parse_agent_status(TOPIC, b'{"ts": "2026-11-30T14:05:00Z"}')
    assert isinstance(parsed, AgentStatus)
    assert (parsed.backlog_readings, parsed.oldest_pending_ts, parsed.failing_meters) == (
        0,
        None,
        (),
    )


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("kilowatch/plant-a/edge-1/status", b"{}", "bad_topic"),
        ("kilowatch/plant a/_agents/edge-1/status", b"{}", "bad_topic"),
        ("other/plant-a/_agents/edge-1/status", b"{}", "bad_topic"),
        (TOPIC, b"\xff\xfe", "invalid_utf8"),
        (TOPIC, b"{not json", "invalid_json"),
        (TOPIC, b"[]", "not_object"),
        (TOPIC, b'{"backlog_readings": 1}', "missing_ts"),
        (TOPIC, b'{"ts": "yesterday"}', "invalid_ts"),
        (TOPIC, b'{"ts": 1796000400, "backlog_readings": -1}', "invalid_field"),
        (TOPIC, b'{"ts": 1796000400, "uptime_s": NaN}', "invalid_field"),
        (TOPIC, b'{"ts": 1796000400, "storage_full": "no"}', "invalid_field"),
        (TOPIC, b'{"ts": 1796000400, "failing_meters": ["a b"]}', "invalid_field"),
        (TOPIC, b'{"ts": 1796000400, "last_publish_ts": "soon"}', "invalid_ts"),
        (TOPIC, b" " * 300_000, "payload_too_large"),
        (TOPIC, b"[" * 100_000, "invalid_json"),
        (TOPIC, b'{"ts": 1796000400, "uptime_s": 1' + b"0" * 400 + b"}", "invalid_field"),
        (TOPIC, b'{"ts": 1796000400, "backlog_readings": 9223372036854775808}', "invalid_field"),
        (TOPIC, b'{"ts": "0001-01-01T00:00:00Z"}', "invalid_ts"),
    ],
)
def test_bad_status_messages_are_rejected_with_a_reason(
    topic: str, payload: bytes, reason: str
) -> None:
    result = parse_agent_status(topic, payload)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.payload == payload
