"""Example messages several tests share: the contract's tests parse them, the schema's lay them
out."""

from __future__ import annotations

from kilowatch.contract import AgentStatus
from kilowatch.processing import Message

NOW = 1_796_000_000.0  # when the example messages are received, Unix s

# An agent's health message with every field set.
AGENT_STATUS = AgentStatus(
    plant="plant-a",
    agent="edge-1",
    ts=1_796_000_400,
    backlog_readings=1234,
    oldest_pending_ts=1_795_990_000,
    inflight_readings=1000,
    last_publish_ts=1_796_000_390,
    last_poll_ts=1_796_000_400,
    poll_errors=3,
    meters=32,
    failing_meters=("press-2", "hvac-1"),
    disk_used_bytes=4_096_000,
    disk_cap_bytes=1_073_741_824,
    storage_full=False,
    readings_dropped=0,
    polls_skipped=0,
    uptime_s=3600.5,
    version="0.1.0",
)


def message(topic: str, payload: str) -> Message:
    """A message as the bridge receives it, at NOW."""
    return Message(topic, payload.encode(), received_at=NOW)
