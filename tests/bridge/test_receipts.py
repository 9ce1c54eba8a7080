"""What a stored batch owes each agent: its receipts, from the processing core's real output."""

from __future__ import annotations

import functools
from pathlib import Path

from kilowatch.bridge.receipts import batch_receipts
from kilowatch.config import load_config
from kilowatch.contract.receipts import parse_receipt, with_agent
from kilowatch.processing import Message, Processor

PLANT_FILE = Path(__file__).parents[2] / "config" / "kilowatch.example.yaml"
NOW = 1_796_000_000


@functools.cache
def processor() -> Processor:
    return Processor(load_config(PLANT_FILE))


def reading(ts: int) -> bytes:
    return b'{"ts":%d,"energy_kwh":1.5}' % ts


def test_each_agent_gets_what_was_stored_and_what_was_rejected() -> None:
    array = b"[" + with_agent(reading(NOW - 600), "edge-1") + b"," + reading(NOW - 300) + b"]"
    messages = [
        Message("kilowatch/hmo/press-01/readings", array, NOW),
        Message("kilowatch/hmo/press-02/readings", with_agent(reading(NOW + 3600), "edge-1"), NOW),
        Message("kilowatch/hmo/press-03/readings", reading(NOW - 300), NOW),  # no agent named
        Message("kilowatch/hmo/_agents/edge-1/status", b'{"ts": 1796000000}', NOW),
        Message("kilowatch/nowhere/m/readings", with_agent(reading(NOW), "edge-9"), NOW),
    ]
    processed = processor().process(messages, NOW)
    refused = {("hmo", "press-01", NOW - 300)}  # InfluxDB refused that point
    receipts = [
        parse_receipt(*r) for r in batch_receipts(messages, processed, refused, NOW, "kilowatch")
    ]
    by_agent = {(r.plant, r.agent): r for r in receipts}
    assert set(by_agent) == {("hmo", "edge-1"), ("nowhere", "edge-9")}
    edge1 = by_agent["hmo", "edge-1"]
    assert edge1.stored == {"press-01": ((NOW - 600, NOW - 600, 0),)}
    assert {(e.meter, e.reason, e.runs) for e in edge1.rejected} == {
        ("press-01", "storage_rejected", ((NOW - 300, NOW - 300, 0),)),
        ("press-02", "future_ts", ((NOW + 3600, NOW + 3600, 0),)),
    }
    edge9 = by_agent["nowhere", "edge-9"]
    assert edge9.stored == {}
    assert [(e.reason, e.runs) for e in edge9.rejected] == [("unknown_plant", ((NOW, NOW, 0),))]


def test_a_batch_that_asks_for_nothing_costs_nothing() -> None:
    messages = [Message("kilowatch/hmo/press-01/readings", reading(NOW - 300), NOW)]
    processed = processor().process(messages, NOW)
    assert batch_receipts(messages, processed, set(), NOW, "kilowatch") == []
