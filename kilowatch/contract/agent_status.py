"""The agent status contract: the edge agent's health message, built by the agent, parsed by
the bridge (pure).

Topic `{prefix}/{plant}/_agents/{agent}/status`, QoS 1, every `status_interval_s` (60 s).
The bridge calls parse_agent_status() and writes kilowatch.influx.schema.agent_status_line()
into the measurement `agent_status` (see kilowatch/agent/README.md, "Health"), so a dashboard
can show a device offline or behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import orjson

from kilowatch.contract.ids import ID_PATTERN, ID_RULE
from kilowatch.contract.readings import (
    DEFAULT_PREFIX,
    MAX_PAYLOAD_BYTES,
    InvalidField,
    Rejection,
    RejectReason,
    finite,
    parse_ts,
)

AGENTS_LEVEL = "_agents"


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """One health report of one agent."""

    plant: str
    agent: str
    ts: int  # when the agent made the report, Unix seconds (agent clock)
    backlog_readings: int  # stored, not yet acknowledged by the broker
    oldest_pending_ts: int | None  # the oldest of them
    inflight_readings: int  # published, waiting for PUBACK
    last_publish_ts: int | None  # last PUBACK received
    last_poll_ts: int | None  # slot time of the last poll
    poll_errors: int  # failed meter reads since the agent started
    meters: int  # meters configured
    failing_meters: tuple[str, ...]  # meters whose last read failed
    disk_used_bytes: int
    disk_cap_bytes: int | None
    storage_full: bool  # the disk cap is reached (see README, "Disk cap")
    readings_dropped: int  # removed by the disk cap, ever (kept across restarts)
    polls_skipped: int  # polls not stored because storage is full, since start
    uptime_s: float
    version: str = ""
    # Receipts (delivery: stored); None from an agent in delivery: broker, or an older one.
    awaiting_receipt_readings: int | None = None  # acknowledged by the broker, not yet stored
    awaiting_receipt_s: float | None = None  # how long the oldest of them has waited
    readings_rejected: int | None = None  # named rejected by a receipt, ever (kept in SQLite)

    @property
    def backlog_age_s(self) -> float:
        """How far behind the agent is: report time minus the oldest pending reading."""
        return 0.0 if self.oldest_pending_ts is None else float(self.ts - self.oldest_pending_ts)

    def to_json(self) -> dict[str, Any]:
        """The status payload (every field, lists as arrays)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["failing_meters"] = list(self.failing_meters)
        return out

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json())


def status_topic(plant: str, agent: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where an agent publishes its status."""
    return f"{prefix}/{plant}/{AGENTS_LEVEL}/{agent}/status"


def status_subscription(prefix: str = DEFAULT_PREFIX) -> str:
    """The topic filter the bridge subscribes to for every agent's status."""
    return f"{prefix}/+/{AGENTS_LEVEL}/+/status"


def parse_agent_status(
    topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX
) -> AgentStatus | Rejection:
    """Validate a status message; a Rejection (as for readings) says what is wrong. Never raises."""
    parts = topic.split("/")
    if (
        len(parts) != 5
        or parts[0] != prefix
        or parts[2] != AGENTS_LEVEL
        or parts[4] != "status"
        or not ID_PATTERN.match(parts[1])
        or not ID_PATTERN.match(parts[3])
    ):
        return Rejection(
            "bad_topic",
            f"topic {topic[:200]!r} is not {prefix}/{{plant}}/{AGENTS_LEVEL}/{{agent}}/status "
            f"with ids of {ID_RULE}",
            payload=payload,
        )
    plant, agent = parts[1], parts[3]

    def reject(reason: RejectReason, detail: str) -> Rejection:
        return Rejection(reason, f"agent {agent} status: {detail}", plant, "", payload)

    if len(payload) > MAX_PAYLOAD_BYTES:
        return reject("payload_too_large", f"{len(payload)} bytes (limit {MAX_PAYLOAD_BYTES})")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        return reject("invalid_utf8", "payload is not valid UTF-8")
    except (ValueError, RecursionError) as err:  # RecursionError: arrays nested thousands deep
        return reject("invalid_json", f"payload is not valid JSON: {err}"[:200])
    if not isinstance(doc, dict):
        return reject("not_object", f"payload must be a JSON object, got {type(doc).__name__}")
    if "ts" not in doc:
        return reject("missing_ts", "no ts")
    try:
        ts = parse_ts(doc["ts"])
        return AgentStatus(
            plant=plant,
            agent=agent,
            ts=ts,
            backlog_readings=_count(doc, "backlog_readings"),
            oldest_pending_ts=_optional_ts(doc, "oldest_pending_ts"),
            inflight_readings=_count(doc, "inflight_readings"),
            last_publish_ts=_optional_ts(doc, "last_publish_ts"),
            last_poll_ts=_optional_ts(doc, "last_poll_ts"),
            poll_errors=_count(doc, "poll_errors"),
            meters=_count(doc, "meters"),
            failing_meters=_ids(doc.get("failing_meters", [])),
            disk_used_bytes=_count(doc, "disk_used_bytes"),
            disk_cap_bytes=_optional_count(doc, "disk_cap_bytes"),
            storage_full=_flag(doc, "storage_full"),
            readings_dropped=_count(doc, "readings_dropped"),
            polls_skipped=_count(doc, "polls_skipped"),
            uptime_s=_seconds(doc, "uptime_s"),
            version=str(doc.get("version", ""))[:64],
            awaiting_receipt_readings=_optional_count(doc, "awaiting_receipt_readings"),
            awaiting_receipt_s=_optional_seconds(doc, "awaiting_receipt_s"),
            readings_rejected=_optional_count(doc, "readings_rejected"),
        )
    except InvalidField as bad:
        return reject(bad.reason, bad.detail)


def _count(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidField(
            "invalid_field", f"{name} must be a whole number >= 0 (64 bits), got {value!r}"[:200]
        )
    return value


def _optional_count(doc: dict[str, Any], name: str) -> int | None:
    return None if doc.get(name) is None else _count(doc, name)


def _optional_ts(doc: dict[str, Any], name: str) -> int | None:
    value = doc.get(name)
    return None if value is None else parse_ts(value)


def _optional_seconds(doc: dict[str, Any], name: str) -> float | None:
    return None if doc.get(name) is None else _seconds(doc, name)


def _flag(doc: dict[str, Any], name: str) -> bool:
    value = doc.get(name, False)
    if not isinstance(value, bool):
        raise InvalidField("invalid_field", f"{name} must be true or false, got {value!r}"[:200])
    return value


def _seconds(doc: dict[str, Any], name: str) -> float:
    value = doc.get(name, 0)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not finite(value)
        or value < 0
    ):
        raise InvalidField("invalid_field", f"{name} must be a number >= 0, got {value!r}"[:200])
    return float(value)


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and ID_PATTERN.match(v) for v in value
    ):
        raise InvalidField("invalid_field", "failing_meters must be an array of meter ids")
    return tuple(value)
