"""The receipt contract: what the bridge (or the Lambda) tells an agent it stored (pure).

Topic `{prefix}/{plant}/_agents/{agent}/receipts`, QoS 1, one message per agent per stored
batch. A publisher asks for receipts by naming itself in its readings: `"agent": "<id>"` in the
reading object (in an array, in the first one). The receipt names, per meter, the timestamps
stored and the timestamps rejected (with the reason), as exact runs `[first_ts, last_ts,
step_s]` (every `step_s` from first to last; `step_s` 0 when first == last), so the agent
deletes a reading only once it is stored, and never resends a rejected one forever.

Everything here is pure: plain data in, bytes out (and back), so the bridge and the AWS Lambda
build the same receipts. See docs/mqtt-contract.md, "Receipts".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from kilowatch.contract.agent_status import AGENTS_LEVEL
from kilowatch.contract.ids import ID_PATTERN, ID_RULE
from kilowatch.contract.readings import (
    DEFAULT_PREFIX,
    MAX_PAYLOAD_BYTES,
    InvalidField,
    Rejection,
    RejectReason,
    TopicError,
    parse_topic,
    parse_ts,
)

RECEIPTS_LEVEL = "receipts"
AGENT_FIELD = "agent"
MAX_RECEIPT_BYTES = MAX_PAYLOAD_BYTES  # a receipt fits the broker's max_packet_size too
MAX_RUNS_PER_RECEIPT = 4000  # ~40 bytes a run: well under MAX_RECEIPT_BYTES
_DETAIL_CHARS = 200
_RUN_COST_OF_REJECTED = 8  # a rejected entry's reason and detail weigh about 8 runs

Run = tuple[int, int, int]  # (first_ts, last_ts, step_s): first, first + step, ..., last
_AGENT_PREFIXES = (b'{"agent":"', b'[{"agent":"')  # how the kilowatch agent writes it


class ReceiptError(ValueError):
    """A receipt topic or payload that does not follow the contract; the message says why."""


@dataclass(frozen=True, slots=True)
class RejectedReadings:
    """Readings of one meter set aside for one reason: the agent logs them and drops them."""

    meter: str
    reason: RejectReason
    detail: str
    runs: tuple[Run, ...]  # empty: the bridge could not tell which timestamps (no ts, bad JSON)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one stored batch did with one agent's readings."""

    plant: str
    agent: str
    ts: int  # when the batch was stored, Unix seconds (bridge clock)
    stored: Mapping[str, tuple[Run, ...]] = field(default_factory=dict)  # by meter
    rejected: tuple[RejectedReadings, ...] = ()

    @property
    def stored_readings(self) -> int:
        """How many readings this receipt says are stored."""
        return sum(run_length(run) for runs in self.stored.values() for run in runs)

    @property
    def rejected_readings(self) -> int:
        """How many readings (with a known ts) this receipt says were rejected."""
        return sum(run_length(run) for entry in self.rejected for run in entry.runs)

    def to_json(self) -> dict[str, Any]:
        """The receipt payload (plant and agent are in the topic)."""
        return {
            "ts": self.ts,
            "stored": {meter: [list(run) for run in runs] for meter, runs in self.stored.items()},
            "rejected": [
                {
                    "meter": entry.meter,
                    "reason": entry.reason,
                    "detail": entry.detail,
                    "ts": [list(run) for run in entry.runs],
                }
                for entry in self.rejected
            ],
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json())


def receipts_topic(plant: str, agent: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where an agent's receipts are published (and what it subscribes to)."""
    return f"{prefix}/{plant}/{AGENTS_LEVEL}/{agent}/{RECEIPTS_LEVEL}"


def runs_of(ts: Iterable[int]) -> tuple[Run, ...]:
    """Timestamps as exact runs of equal steps, in order (duplicates count once)."""
    ordered = sorted(set(ts))
    runs: list[Run] = []
    i, count = 0, len(ordered)
    while i < count:
        first = ordered[i]
        if i + 1 == count:
            runs.append((first, first, 0))
            break
        step = ordered[i + 1] - first
        j = i + 1
        while j + 1 < count and ordered[j + 1] - ordered[j] == step:
            j += 1
        runs.append((first, ordered[j], step))
        i = j + 1
    return tuple(runs)


def run_length(run: Run) -> int:
    """How many timestamps a run names."""
    first, last, step = run
    return 1 if step == 0 else (last - first) // step + 1


def run_timestamps(run: Run) -> range:
    """Every timestamp of a run."""
    first, last, step = run
    return range(first, last + 1, step or 1)


def message_agent(payload: bytes) -> str | None:
    """The agent a readings payload asks receipts for (its `agent` field), None if none.

    The kilowatch agent writes `agent` first, which is read without parsing the payload; a
    payload naming it elsewhere is parsed (only payloads that contain the word at all).
    """
    for prefix in _AGENT_PREFIXES:
        if payload.startswith(prefix):
            end = payload.find(b'"', len(prefix))
            if end > 0:
                agent = payload[len(prefix) : end].decode("ascii", errors="replace")
                return agent if ID_PATTERN.match(agent) else None
    if b'"agent"' not in payload:
        return None
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    first = doc[0] if isinstance(doc, list) and doc else doc
    named = first.get(AGENT_FIELD) if isinstance(first, dict) else None
    return named if isinstance(named, str) and ID_PATTERN.match(named) else None


def with_agent(body: bytes, agent: str) -> bytes:
    """A reading object's JSON with `"agent": agent` as its first field (how the agent asks)."""
    return b'{"agent":"' + agent.encode() + (b'",' + body[1:] if body != b"{}" else b'"}')


def rejected_timestamps(payload: bytes) -> list[int]:
    """The timestamps a rejected payload (a reading, or a whole message) names; [] if none."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return []
    items = doc if isinstance(doc, list) else [doc]
    out: list[int] = []
    for item in items:
        if isinstance(item, dict) and "ts" in item:
            try:
                out.append(parse_ts(item["ts"]))
            except InvalidField:
                continue
    return out


def build_receipts(
    messages: Sequence[tuple[str, bytes]],
    stored_ts: Mapping[int, Sequence[int]],
    set_aside: Mapping[int, Sequence[Rejection]],
    now: float,
    prefix: str = DEFAULT_PREFIX,
    refused: Mapping[int, Sequence[int]] | None = None,
) -> list[tuple[str, bytes]]:
    """The receipts of one stored batch, as (topic, payload): one per agent (more if large).

    `messages` are the batch's (topic, payload) in order; `stored_ts` the timestamps stored of
    each message (by its index), `set_aside` what was rejected of each, and `refused` the
    timestamps the database refused (reason `storage_rejected`). Only messages that name an
    agent get a receipt. Pure: the bridge and the Lambda call exactly this.
    """
    stored: dict[tuple[str, str], dict[str, list[int]]] = {}
    rejected: dict[tuple[str, str], dict[tuple[str, str], tuple[str, list[int]]]] = {}
    refused = refused or {}
    for index, (topic, payload) in enumerate(messages):
        agent = message_agent(payload)
        if agent is None:
            continue
        try:
            where = parse_topic(topic, prefix)
        except TopicError:
            continue  # no plant to address the receipt to
        key = (where.plant, agent)
        if stored_ts.get(index):
            stored.setdefault(key, {}).setdefault(where.meter, []).extend(stored_ts[index])
        entries = rejected.setdefault(key, {})
        for rejection in set_aside.get(index, ()):
            slot = entries.setdefault(
                (where.meter, rejection.reason), (rejection.detail[:_DETAIL_CHARS], [])
            )
            slot[1].extend(rejected_timestamps(rejection.payload))
        if refused.get(index):
            slot = entries.setdefault(
                (where.meter, "storage_rejected"), ("the database refused these points", [])
            )
            slot[1].extend(refused[index])
    out: list[tuple[str, bytes]] = []
    ts = int(now)
    for key in sorted(stored.keys() | {k for k, v in rejected.items() if v}):
        plant, agent = key
        receipt = Receipt(
            plant,
            agent,
            ts,
            {meter: runs_of(values) for meter, values in stored.get(key, {}).items()},
            tuple(
                RejectedReadings(meter, reason, detail, runs_of(values))  # type: ignore[arg-type]
                for (meter, reason), (detail, values) in rejected.get(key, {}).items()
            ),
        )
        topic = receipts_topic(plant, agent, prefix)
        out.extend((topic, part.encode()) for part in split_receipt(receipt))
    return out


def split_receipt(receipt: Receipt, max_runs: int = MAX_RUNS_PER_RECEIPT) -> list[Receipt]:
    """The receipt as parts of at most max_runs runs each (so each fits MAX_RECEIPT_BYTES)."""
    parts: list[Receipt] = []
    stored: dict[str, list[Run]] = {}
    rejected: list[RejectedReadings] = []
    budget = max_runs

    def flush() -> None:
        nonlocal stored, rejected, budget
        if stored or rejected:
            parts.append(
                Receipt(
                    receipt.plant,
                    receipt.agent,
                    receipt.ts,
                    {m: tuple(r) for m, r in stored.items()},
                    tuple(rejected),
                )
            )
        stored, rejected, budget = {}, [], max_runs

    for meter, runs in receipt.stored.items():
        for start in range(0, len(runs), max_runs):
            chunk = runs[start : start + max_runs]
            if len(chunk) > budget:
                flush()
            stored.setdefault(meter, []).extend(chunk)
            budget -= len(chunk)
    for entry in receipt.rejected:
        chunks = [
            entry.runs[s : s + max_runs // 2] for s in range(0, len(entry.runs), max_runs // 2)
        ]
        for chunk in chunks or [()]:
            cost = len(chunk) + _RUN_COST_OF_REJECTED
            if cost > budget:
                flush()
            rejected.append(RejectedReadings(entry.meter, entry.reason, entry.detail, chunk))
            budget -= cost
    flush()
    return parts or [receipt]


def parse_receipt(topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX) -> Receipt:
    """Validate a receipt; ReceiptError says what is wrong."""
    parts = topic.split("/")
    if (
        len(parts) != 5
        or parts[0] != prefix
        or parts[2] != AGENTS_LEVEL
        or parts[4] != RECEIPTS_LEVEL
        or not ID_PATTERN.match(parts[1])
        or not ID_PATTERN.match(parts[3])
    ):
        raise ReceiptError(
            f"topic {topic[:200]!r} is not {prefix}/{{plant}}/{AGENTS_LEVEL}/{{agent}}/"
            f"{RECEIPTS_LEVEL} with ids of {ID_RULE}"
        )
    if len(payload) > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"receipt is {len(payload)} bytes (limit {MAX_RECEIPT_BYTES})")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        raise ReceiptError(f"receipt is not JSON: {err}"[:200]) from None
    if not isinstance(doc, dict):
        raise ReceiptError("receipt must be a JSON object")
    try:
        ts = parse_ts(doc.get("ts"))
    except InvalidField as bad:
        raise ReceiptError(f"receipt ts: {bad.detail}") from None
    stored_doc = doc.get("stored", {})
    if not isinstance(stored_doc, dict):
        raise ReceiptError("receipt stored must be an object of meter: runs")
    stored = {_meter(meter): _runs(runs, meter) for meter, runs in stored_doc.items()}
    rejected_doc = doc.get("rejected", [])
    if not isinstance(rejected_doc, list):
        raise ReceiptError("receipt rejected must be an array")
    rejected = []
    for entry in rejected_doc:
        if not isinstance(entry, dict):
            raise ReceiptError("each rejected entry must be an object")
        meter = _meter(entry.get("meter"))
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason:
            raise ReceiptError(f"rejected entry of meter {meter} has no reason")
        rejected.append(
            RejectedReadings(
                meter,
                reason,  # type: ignore[arg-type]  # a newer bridge may know more reasons
                str(entry.get("detail", ""))[:_DETAIL_CHARS],
                _runs(entry.get("ts", []), meter),
            )
        )
    return Receipt(parts[1], parts[3], ts, stored, tuple(rejected))


def _meter(value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ReceiptError(f"meter {str(value)[:80]!r} in a receipt must be {ID_RULE}")
    return value


def _runs(value: Any, meter: str) -> tuple[Run, ...]:
    if not isinstance(value, list):
        raise ReceiptError(f"runs of meter {meter} must be an array of [first, last, step]")
    out = []
    for run in value:
        if (
            not isinstance(run, list)
            or len(run) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in run)
        ):
            raise ReceiptError(f"run {str(run)[:80]} of meter {meter} is not [first, last, step]")
        first, last, step = run
        if (
            first < 0
            or last < first
            or step < 0
            or (step == 0) != (first == last)
            or (step and (last - first) % step)
        ):
            raise ReceiptError(f"run {run} of meter {meter} is not first..last every step")
        out.append((first, last, step))
    return tuple(out)
