"""The backlog policy: per-meter arrays, oldest first, at a bounded rate."""

from __future__ import annotations

import json

import pytest

from kilowatch.agent.outbox import TokenBucket, plan_batches
from kilowatch.agent.store import PendingRow
from kilowatch.contract import MAX_PAYLOAD_BYTES
from kilowatch.contract.receipts import message_agent


def row(row_id: int, meter: str, ts: int) -> PendingRow:
    return PendingRow(row_id, meter, ts, json.dumps({"ts": ts, "energy_kwh": 1.0}).encode())


def test_rows_are_grouped_per_meter_in_arrays_of_at_most_the_batch_size() -> None:
    rows = [row(i, "a" if i % 2 else "b", 1000 + i) for i in range(10)]
    batches = plan_batches(rows, batch_readings=2)
    assert [(b.meter, [r.id for r in b.rows]) for b in batches] == [
        ("b", [0, 2]),
        ("a", [1, 3]),
        ("b", [4, 6]),
        ("a", [5, 7]),
        ("b", [8]),
        ("a", [9]),
    ]


def test_batches_come_out_oldest_first() -> None:
    rows = sorted([row(1, "a", 500), row(2, "b", 100), row(3, "a", 900)], key=lambda r: r.ts)
    assert [b.oldest_ts for b in plan_batches(rows, 1000)] == [100, 500]


def test_rows_in_flight_are_skipped() -> None:
    rows = [row(1, "a", 100), row(2, "a", 200)]
    (batch,) = plan_batches(rows, 1000, skip_ids={1})
    assert batch.ids == [2]


def test_payload_is_an_object_for_one_reading_and_an_array_for_several() -> None:
    one, two = (
        plan_batches([row(1, "a", 100)], 10),
        plan_batches([row(1, "a", 100), row(2, "a", 200)], 10),
    )
    assert json.loads(one[0].payload()) == {"ts": 100, "energy_kwh": 1.0}
    assert [r["ts"] for r in json.loads(two[0].payload())] == [100, 200]


def test_token_bucket_starts_empty_and_limits_the_rate() -> None:
    bucket = TokenBucket(rate=1000, capacity=1000, now=0.0)
    assert bucket.wait_s(500, 0.0) == pytest.approx(0.5)  # no burst at the start
    assert bucket.wait_s(1000, 1.0) == 0
    bucket.take(1000, 1.0)
    assert bucket.wait_s(500, 1.0) == pytest.approx(0.5)
    assert bucket.wait_s(500, 1.5) == 0
    # A batch bigger than the bucket waits for a full bucket, then may go.
    bucket.take(500, 1.5)
    assert bucket.wait_s(5000, 1.5) == pytest.approx(1.0)


def test_token_bucket_reset_empties_it() -> None:
    bucket = TokenBucket(rate=100, capacity=100, now=0.0)
    assert bucket.wait_s(100, 10.0) == 0
    bucket.reset(10.0)
    assert bucket.wait_s(100, 10.0) == pytest.approx(1.0)


def test_token_bucket_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, capacity=1, now=0)


def test_a_batch_stays_under_the_contracts_payload_limit() -> None:
    big = [
        PendingRow(i, "a", i, json.dumps({"ts": i, "energy_kwh": 1.0, "pad": "x" * 990}).encode())
        for i in range(1000)
    ]
    batches = plan_batches(big, 1000)
    assert len(batches) > 1
    assert [r.id for b in batches for r in b.rows] == list(range(1000))
    assert all(len(b.payload("edge-1")) <= MAX_PAYLOAD_BYTES for b in batches)


def test_naming_the_agent_asks_for_a_receipt_in_the_first_reading_only() -> None:
    (batch,) = plan_batches([row(1, "a", 100), row(2, "a", 200)], 10)
    first, second = json.loads(batch.payload("edge-1"))
    assert first == {"agent": "edge-1", "ts": 100, "energy_kwh": 1.0}
    assert "agent" not in second
    assert message_agent(batch.payload("edge-1")) == "edge-1"
    assert message_agent(batch.payload()) is None
