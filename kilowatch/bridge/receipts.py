"""Receipts for a stored batch: which of each agent's readings are stored, which were rejected.

The format is kilowatch.contract.receipts (pure); this module only gathers what one stored batch
did with each message and hands it to `build_receipts`. See docs/mqtt-contract.md, "Receipts".
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from kilowatch.contract.receipts import build_receipts, message_agent
from kilowatch.processing import Key, Message, Processed


def stored_ts_by_message(
    processed: Processed, wanted: Container[int], refused: Container[Key] = frozenset()
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """The timestamps stored and the timestamps refused by the database, of each wanted message."""
    stored: dict[int, list[int]] = {}
    refused_ts: dict[int, list[int]] = {}
    for plant, costed in processed.costed.items():
        for (meter, start, stop), index in zip(costed.columns.runs, costed.messages, strict=True):
            if index not in wanted:
                continue
            timestamps = costed.columns.ts[start:stop].tolist()
            if refused:
                refused_ts[index] = [ts for ts in timestamps if (plant, meter, ts) in refused]
                timestamps = [ts for ts in timestamps if (plant, meter, ts) not in refused]
            stored[index] = timestamps
    return stored, refused_ts


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
    stored, refused_ts = stored_ts_by_message(processed, wanted, refused)
    return build_receipts(
        [(m.topic, m.payload) if i in wanted else (m.topic, b"") for i, m in enumerate(messages)],
        stored,
        {i: r for i, r in processed.set_aside.items() if i in wanted},
        now,
        prefix,
        refused_ts,
    )
