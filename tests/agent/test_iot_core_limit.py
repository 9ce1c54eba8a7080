"""Every message the agent sends fits AWS IoT Core's 128 KB payload limit, even a backlog of
1,000-reading arrays of readings with every optional field."""

from __future__ import annotations

import orjson

from kilowatch.agent.outbox import IOT_CORE_MAX_PAYLOAD_BYTES, plan_batches
from kilowatch.agent.store import PendingRow
from kilowatch.contract import MAX_READINGS_PER_MESSAGE, Reading, parse_message


def full_reading(ts: int) -> Reading:
    """A reading with every optional field, long numbers: the largest body a meter makes."""
    return Reading(
        plant="plant-with-a-long-name",
        meter="meter-with-a-long-name-01",
        ts=ts,
        energy_kwh=12.345678901234567,
        interval_s=300,
        seq=ts,
        energy_total_kwh=123456789.12345678,
        power_kw=148.14814814814815,
        reactive_kvarh=3.3333333333333335,
        power_factor=0.9666666666666667,
        voltage_v=(230.12345678901234, 231.12345678901234, 229.12345678901234),
        current_a=(212.12345678901234, 213.12345678901234, 211.12345678901234),
    )


def test_a_full_backlog_goes_out_in_messages_iot_core_accepts() -> None:
    start = 1_780_000_000
    rows = [
        PendingRow(i, "meter-with-a-long-name-01", start + 300 * i, orjson.dumps(r.to_json()))
        for i, r in enumerate(full_reading(start + 300 * i) for i in range(3 * 1000))
    ]
    assert sum(len(r.body) for r in rows[:MAX_READINGS_PER_MESSAGE]) > IOT_CORE_MAX_PAYLOAD_BYTES
    batches = plan_batches(rows, MAX_READINGS_PER_MESSAGE)
    assert sum(len(b.rows) for b in batches) == len(rows)
    agent = "agent-with-a-rather-long-name-0123456789"
    for batch in batches:
        payload = batch.payload(agent)
        assert len(payload) <= IOT_CORE_MAX_PAYLOAD_BYTES
        parsed = parse_message(
            "kilowatch/plant-with-a-long-name/meter-with-a-long-name-01/readings", payload, 2e9
        )
        assert not parsed.rejections and len(parsed.readings) == len(batch.rows)
    assert max(len(b.rows) for b in batches) > 100  # still arrays, not one reading a message
