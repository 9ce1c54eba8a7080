"""Every MQTT message format kilowatch reads or writes, pure (bytes in, plain data out).

`readings`: reading topics and payloads (docs/mqtt-contract.md); `agent_status`: the edge
agent's health message; `receipts`: what the bridge stored, sent back to the agent; `ids`: the
one rule for every id. The agent, the bridge and the Lambda
share these definitions.
"""

from __future__ import annotations

from kilowatch.contract.agent_status import (
    AGENTS_LEVEL,
    AgentStatus,
    parse_agent_status,
    status_subscription,
    status_topic,
)
from kilowatch.contract.ids import ID_PATTERN, ID_RULE, check_id
from kilowatch.contract.readings import (
    DEFAULT_INTERVAL_S,
    DEFAULT_PREFIX,
    MAX_FUTURE_S,
    MAX_PAYLOAD_BYTES,
    MAX_PHASES,
    MAX_READINGS_PER_MESSAGE,
    InvalidField,
    Parsed,
    Reading,
    Rejection,
    RejectReason,
    Topic,
    TopicError,
    encode_readings,
    parse_message,
    parse_reading,
    parse_topic,
    parse_ts,
    readings_topic,
)
from kilowatch.contract.receipts import (
    AGENT_FIELD,
    RECEIPTS_LEVEL,
    Receipt,
    ReceiptError,
    RejectedReadings,
    build_receipts,
    message_agent,
    parse_receipt,
    receipts_topic,
    with_agent,
)

__all__ = [
    "AGENTS_LEVEL",
    "AGENT_FIELD",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_PREFIX",
    "ID_PATTERN",
    "ID_RULE",
    "MAX_FUTURE_S",
    "MAX_PAYLOAD_BYTES",
    "MAX_PHASES",
    "MAX_READINGS_PER_MESSAGE",
    "RECEIPTS_LEVEL",
    "AgentStatus",
    "InvalidField",
    "Parsed",
    "Reading",
    "Receipt",
    "ReceiptError",
    "RejectReason",
    "RejectedReadings",
    "Rejection",
    "Topic",
    "TopicError",
    "build_receipts",
    "check_id",
    "encode_readings",
    "message_agent",
    "parse_agent_status",
    "parse_message",
    "parse_reading",
    "parse_receipt",
    "parse_topic",
    "parse_ts",
    "readings_topic",
    "receipts_topic",
    "status_subscription",
    "status_topic",
    "with_agent",
]
