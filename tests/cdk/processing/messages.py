"""One table of MQTT messages for both adapters (the bridge and the Lambda): accepted single
readings and arrays, every rejection reason the contract has, agent status reports, a repeat.

Timestamps are relative to `now`, so the same table is valid whenever the test runs. Not in
it: `internal_error` (a bug in kilowatch; nothing provokes it on purpose).
"""

from __future__ import annotations

from typing import NamedTuple

import orjson

from kilowatch.contract.receipts import with_agent

INTERVAL_S = 300
CONFLICT_METER = "compressor-a"  # its readings land in the week the seed point poisons


class Table(NamedTuple):
    """The messages, and what a test must do first for `storage_rejected` to happen."""

    messages: list[tuple[str, bytes]]
    seed_line: str  # write to the database first: a `seq` field of type string in that shard
    base_ts: int
    conflict_ts: int


def _topic(plant: str, meter: str) -> str:
    return f"kilowatch/{plant}/{meter}/readings"


def _json(doc: object) -> bytes:
    return orjson.dumps(doc)


def _array(readings: list[object], agent: str) -> bytes:
    """An array whose first reading names the agent (how a publisher of arrays asks)."""
    first = readings[0]
    assert isinstance(first, dict)
    return _json([{"agent": agent} | first, *readings[1:]])


def message_table(now: float) -> Table:
    """Every kind of message, timestamps from yesterday (and 30 days ago for the conflict)."""
    ts = int(now - 86_400) // INTERVAL_S * INTERVAL_S
    # InfluxDB 1.x checks a field's type per shard (7 days here): a week with nothing else.
    conflict_ts = int(now - 30 * 86_400) // INTERVAL_S * INTERVAL_S

    def reading(**fields: object) -> dict[str, object]:
        return {"ts": ts, "energy_kwh": 2.5} | fields

    status = {
        "ts": int(now) - 30,
        "backlog_readings": 12,
        "inflight_readings": 3,
        "poll_errors": 2,
        "meters": 4,
        "failing_meters": ["press-02"],
        "disk_used_bytes": 123456,
        "storage_full": False,
        "readings_dropped": 0,
        "polls_skipped": 1,
        "uptime_s": 3600.5,
        "version": "1.2.3",
    }
    sea = _topic("sea", "assembly-01")
    first = (sea, with_agent(_json(reading()), "edge-sea"))
    messages: list[tuple[str, bytes]] = [
        # accepted: single readings and arrays, optional fields, phases, RFC 3339, receipts
        first,
        (
            _topic("hmo", "press-01"),
            _array(
                [reading(ts=ts + INTERVAL_S * k, energy_kwh=k / 3) for k in range(5)], "edge-hmo"
            ),
        ),
        (
            _topic("hmo", "press-02"),
            _json(
                [
                    reading(
                        seq=7,
                        energy_total_kwh=123456.789,
                        power_kw=30.0,
                        reactive_kvarh=1.25,
                        power_factor=0.91,
                        voltage_v=[480.1, 479.9, 481.0],
                        current_a=[40.5, 41.0, 39.75],
                    ),
                    reading(ts=ts + INTERVAL_S, power_kw=-2, voltage_v=[230]),
                    reading(ts=ts + 2 * INTERVAL_S + 0.4, interval_s=60, energy_kwh=1e-7),
                ]
            ),
        ),
        (
            _topic("hmo", "paint-oven"),
            _json([reading(ts=ts - INTERVAL_S * k, energy_kwh=k % 7 + 0.5) for k in range(100)]),
        ),
        # rejected, one reason after another
        ("kilowatch/se a/m/readings", _json(reading())),
        (sea, b" " * (256 * 1024 + 1)),
        (sea, b'{"ts": 1, "energy_kwh": "\xff"}'),
        (sea, b'{bad json, "quoted"\nnewline}'),
        (sea, b"42"),
        (sea, _json([reading()] * 1001)),
        (sea, b"[]"),
        (sea, b'{"energy_kwh": 1}'),
        (sea, _json(reading(ts="yesterday"))),
        (sea, _json(reading(ts="2026-11-21T07:05:00"))),
        (sea, with_agent(_json(reading(ts=int(now) + 86_400)), "edge-sea")),
        (sea, _json({"ts": ts})),
        (sea, _json(reading(energy_kwh=-1))),
        (sea, _json(reading(energy_kwh=True))),
        (sea, _json(reading(interval_s=0))),
        (sea, _json(reading(seq=-1))),
        (sea, _json(reading(voltage_v=[1, 2]))),
        (sea, b'{"ts": %d, "energy_kwh": 1, "power_kw": NaN}' % ts),
        (sea, _json(reading(power_factor=1.5))),
        (
            _topic("sea", "assembly-02"),
            _array([reading(), 3, reading(ts="x"), reading(ts=ts + 60)], "edge-sea"),
        ),
        (_topic("nowhere", "m1"), _json(reading())),
        (_topic("sea", "new-meter"), _json(reading())),
        # InfluxDB refuses the first reading (field type conflict): storage_rejected
        (
            _topic("hmo", CONFLICT_METER),
            _array(
                [
                    {"ts": conflict_ts, "energy_kwh": 1.0, "seq": 5},
                    {"ts": conflict_ts + INTERVAL_S, "energy_kwh": 2.0},
                ],
                "edge-hmo",
            ),
        ),
        # agent status: valid, unknown plant, bad agent id, bad fields, bad JSON
        ("kilowatch/hmo/_agents/edge-hmo/status", _json(status)),
        ("kilowatch/nowhere/_agents/edge-1/status", _json(status)),
        ("kilowatch/hmo/_agents/edge 1/status", _json(status)),
        ("kilowatch/hmo/_agents/edge-hmo/status", _json(status | {"poll_errors": -1})),
        ("kilowatch/hmo/_agents/edge-hmo/status", b"[1, 2"),
        # a repeat: stored once
        first,
    ]
    seed = f'energy,meter=seed,plant=seed seq="not a number" {conflict_ts}000000000'
    return Table(messages, seed, ts, conflict_ts)
