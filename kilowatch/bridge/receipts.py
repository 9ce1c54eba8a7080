"""Receipts for a stored batch: which of each agent's readings are stored, which were rejected.

The format is kilowatch.contract.receipts (pure); this module only gathers what one stored batch
did with each message and hands it to `build_receipts`. See docs/mqtt-contract.md, "Receipts".
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from kilowatch.contract.receipts import build_receipts, message_agent
from kilowatch.processing import Key, Message, Processed


def batch_receipts(
    messages: Sequence[Message],
    processed: Processed,
    refused: Container[Key],
    now: float,
    prefix: str,
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every receipt a stored batch owes; [] when no message asked for one."""
    wanted = {
        index
        for index, message in enumerate(messages)
        if index not in processed.statuses and message_agent(message.payload) is not None
    }
    if not wanted:
        return []
    return build_receipts(
        [(m.topic, m.payload) if i in wanted else (m.topic, b"") for i, m in enumerate(messages)],
        processed.stored_ts(refused),
        {i: r for i, r in processed.set_aside.items() if i in wanted},
        now,
        prefix,
        processed.refused_ts(refused),
    )
