"""Storing a processed batch, and what is done when InfluxDB refuses some of its points.

The bridge and the ingest Lambda call `store_batch` with their own `write` (the bridge retries
until stopped; the Lambda a few times, then fails the invocation): the batch in one go; if
InfluxDB refuses it, message by message; a refused message point by point, and what InfluxDB
said of its refused points goes to `rejected` as `storage_rejected`. One refused point (a field
type conflict) so costs no other reading, and the readings refused are returned as data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from kilowatch.contract import Rejection
from kilowatch.influx.writer import InfluxWriteError
from kilowatch.processing import Key, Message, Processed

logger = logging.getLogger(__name__)

# Stores every line and returns True, returns False if stopped before that, or raises
# InfluxWriteError when InfluxDB refuses the points for good.
Write = Callable[[list[str]], bool]
# The `rejected` lines of a message's rejections at its receive time (influx.schema.LineLayout).
RejectedLines = Callable[[Sequence[Rejection], float], list[str]]

MAX_POINT_CHARS = 500  # of a refused point, quoted in its rejection
MAX_DETAIL_CHARS = 2000


def store_batch(
    write: Write,
    messages: Sequence[Message],
    processed: Processed,
    lines: Sequence[list[str]],
    rejected_lines: RejectedLines,
) -> set[Key] | None:
    """Store each message's `lines` (its energy points last, as LineLayout.batch_lines lays
    them out); the (plant, meter, ts) of the readings InfluxDB refused, or None if stopped."""
    try:
        if not write([line for per_message in lines for line in per_message]):
            return None
        return set()
    except InfluxWriteError as err:
        logger.warning("InfluxDB refused a batch (%s); writing its messages one by one", err)
    refused: set[Key] = set()
    for index, (message, message_lines) in enumerate(zip(messages, lines, strict=True)):
        try:
            if not write(message_lines):
                return None
            continue
        except InfluxWriteError:
            pass
        # Which points does InfluxDB refuse? One at a time. A message's energy points are its
        # last lines, one per accepted reading, in order.
        keys = processed.reading_keys(index)
        first_energy = len(message_lines) - len(keys)
        errors = []
        for number, line in enumerate(message_lines):
            try:
                if not write([line]):
                    return None
            except InfluxWriteError as err:
                errors.append(f"{err} (the point: {line[:MAX_POINT_CHARS]})")
                if number >= first_energy:
                    refused.add(keys[number - first_energy])
        if errors and not _set_aside(write, message, errors, rejected_lines):
            return None
    return refused


def _set_aside(
    write: Write, message: Message, errors: list[str], rejected_lines: RejectedLines
) -> bool:
    """Store what InfluxDB said of a message's refused points in `rejected`; False if stopped."""
    rejection = Rejection(
        "storage_rejected",
        f"InfluxDB refused {len(errors)} point(s) of this message: {'; '.join(errors)}"[
            :MAX_DETAIL_CHARS
        ],
        payload=message.payload,
    )
    try:
        return write(rejected_lines([rejection], message.received_at))
    except InfluxWriteError as err:
        logger.error("InfluxDB refused even the rejection record, dropping it: %s", err)
        return True
