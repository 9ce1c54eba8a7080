"""The receipt contract: what a stored batch tells each agent, encoded and parsed back exactly."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.contract import MAX_PAYLOAD_BYTES, Rejection
from kilowatch.contract.receipts import (
    MAX_RECEIPT_BYTES,
    Receipt,
    ReceiptError,
    RejectedReadings,
    build_receipts,
    message_agent,
    parse_receipt,
    receipts_topic,
    run_timestamps,
    runs_of,
    split_receipt,
    with_agent,
)

TOPIC = "kilowatch/hmo/press-01/readings"
BODY = b'{"ts":1796000400,"energy_kwh":2.5,"interval_s":300}'


@given(st.lists(st.integers(0, 10**6), max_size=300))
def test_runs_name_exactly_the_timestamps(ts: list[int]) -> None:
    runs = runs_of(ts)
    named = [t for run in runs for t in run_timestamps(run)]
    assert named == sorted(set(ts))


def test_regular_readings_make_one_run() -> None:
    assert runs_of(range(1000, 1000 + 300 * 1000, 300)) == ((1000, 1000 + 300 * 999, 300),)
    assert runs_of([7]) == ((7, 7, 0),)


def test_the_agent_is_read_from_the_first_reading() -> None:
    assert message_agent(with_agent(BODY, "edge-1")) == "edge-1"
    assert message_agent(b"[" + with_agent(BODY, "edge-1") + b"," + BODY + b"]") == "edge-1"
    assert message_agent(b'{"ts":1,"energy_kwh":1,"agent":"edge-2"}') == "edge-2"  # any order
    assert message_agent(BODY) is None
    assert message_agent(b'{"agent":"bad id"}') is None
    assert message_agent(b'{"agent":"x"') == "x"  # its rejection (invalid_json) reaches it
    assert message_agent(b'{"agent"') is None


def test_with_agent_keeps_the_reading_valid_json() -> None:
    assert orjson.loads(with_agent(BODY, "edge-1")) == {"agent": "edge-1", **orjson.loads(BODY)}


def test_a_batch_gives_one_receipt_per_agent_naming_stored_and_rejected() -> None:
    messages = [
        (TOPIC, with_agent(BODY, "edge-1")),
        ("kilowatch/hmo/press-02/readings", with_agent(BODY, "edge-1")),
        ("kilowatch/hmo/press-03/readings", with_agent(BODY, "edge-2")),
        ("kilowatch/hmo/press-04/readings", BODY),  # asks for nothing
    ]
    rejection = Rejection("future_ts", "ts is 900 s in the future", "hmo", "press-02", BODY)
    receipts = build_receipts(
        messages,
        {0: [300, 600, 900], 2: [1200], 3: [5]},
        {1: [rejection]},
        now=1000.9,
        refused={0: [1500]},
    )
    assert [topic for topic, _ in receipts] == [
        receipts_topic("hmo", "edge-1"),
        receipts_topic("hmo", "edge-2"),
    ]
    first = parse_receipt(*receipts[0])
    assert first.ts == 1000
    assert first.stored == {"press-01": ((300, 900, 300),)}
    assert set(first.rejected) == {
        RejectedReadings(
            "press-02", "future_ts", "ts is 900 s in the future", ((1796000400,) * 2 + (0,),)
        ),
        RejectedReadings(
            "press-01", "storage_rejected", "the database refused these points", ((1500, 1500, 0),)
        ),
    }
    assert parse_receipt(*receipts[1]).stored == {"press-03": ((1200, 1200, 0),)}


def test_a_whole_message_rejected_names_each_of_its_readings() -> None:
    payload = b"[" + with_agent(BODY, "edge-1") + b',{"ts":1796000700,"energy_kwh":1}]'
    rejection = Rejection("unknown_plant", "plant 'x' is not in the plant file", "x", "m", payload)
    ((topic, body),) = build_receipts(
        [("kilowatch/x/m/readings", payload)], {}, {0: [rejection]}, now=0
    )
    receipt = parse_receipt(topic, body)
    assert receipt.rejected_readings == 2
    assert receipt.rejected[0].runs == ((1796000400, 1796000700, 300),)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=3000))
def test_a_large_receipt_is_split_into_parts_that_fit(ts: list[int]) -> None:
    receipt = Receipt("hmo", "edge-1", 1, {"m": runs_of(ts)}, ())
    parts = split_receipt(receipt, max_runs=100)
    assert all(len(part.encode()) <= MAX_RECEIPT_BYTES for part in parts)
    assert sum(part.stored_readings for part in parts) == len(set(ts))


def test_the_largest_receipt_of_a_full_batch_fits_the_packet_limit() -> None:
    alternate = list(range(0, 2_000_000, 2))[::2]  # no two steps alike: a run per reading
    receipt = Receipt("p" * 64, "a" * 64, 2**40, {"m" * 64: runs_of(alternate[:100_000])}, ())
    for part in split_receipt(receipt):
        assert len(part.encode()) <= MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        ("kilowatch/hmo/_agents/edge-1/status", b"{}", "is not"),
        ("kilowatch/hmo/_agents/edge-1/receipts", b"[]", "JSON object"),
        ("kilowatch/hmo/_agents/edge-1/receipts", b"{", "not JSON"),
        (
            "kilowatch/hmo/_agents/edge-1/receipts",
            b'{"ts": 1, "stored": {"m": [[5, 1, 1]]}}',
            "every step",
        ),
        (
            "kilowatch/hmo/_agents/edge-1/receipts",
            b'{"ts": 1, "stored": {"m": [[1, 1, 3]]}}',
            "every step",
        ),
        (
            "kilowatch/hmo/_agents/edge-1/receipts",
            b'{"ts": 1, "stored": {"m": [[1, 8, 3]]}}',
            "every step",
        ),
        ("kilowatch/hmo/_agents/edge-1/receipts", b'{"ts": 1, "stored": {"bad id": []}}', "meter"),
        (
            "kilowatch/hmo/_agents/edge-1/receipts",
            b'{"ts": 1, "rejected": [{"meter": "m"}]}',
            "reason",
        ),
    ],
)
def test_a_bad_receipt_says_why(topic: str, payload: bytes, message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        parse_receipt(topic, payload)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True),
        st.lists(st.integers(0, 10**10), min_size=1, max_size=50),
        max_size=5,
    )
)
def test_encode_then_parse_gives_the_receipt_back(stored: dict[str, list[int]]) -> None:
    receipt = Receipt("hmo", "edge-1", 5, {m: runs_of(ts) for m, ts in stored.items()}, ())
    assert parse_receipt(receipts_topic("hmo", "edge-1"), receipt.encode()) == receipt
