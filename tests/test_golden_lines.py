"""The InfluxDB lines kilowatch writes for a fixed set of messages, byte for byte.

A golden file guards the layout of every kind of point (energy, rejected, agent_status,
plant_info, kilowatch_bridge, billing) across refactoring: dashboards, the recost job and
stored data all depend on it. Regenerate only on purpose: KILOWATCH_WRITE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from kilowatch.billing.running import RunningBill
from kilowatch.bridge.health import BridgeHealth
from kilowatch.config import KilowatchConfig, load_config
from kilowatch.contract import Rejection
from kilowatch.influx.schema import LineLayout, billing_line, plant_info_line
from kilowatch.processing import Message, Processor
from tests.bridge.conftest import EXAMPLE_PLANT_FILE

GOLDEN = Path(__file__).parent / "golden" / "bridge-lines.txt"
NOW = 1_796_000_000.0  # 2026-11-30
RECEIVED = NOW - 0.25
TS = 1_795_168_800


def _reading(**fields: object) -> dict[str, object]:
    return {"ts": TS, "energy_kwh": 2.5} | fields


def _topic(plant: str, meter: str) -> str:
    return f"kilowatch/{plant}/{meter}/readings"


def _json(doc: object) -> bytes:
    return orjson.dumps(doc)


STATUS = {
    "ts": int(NOW) - 30,
    "backlog_readings": 12,
    "oldest_pending_ts": int(NOW) - 900,
    "inflight_readings": 3,
    "last_publish_ts": int(NOW) - 40,
    "last_poll_ts": int(NOW) - 60,
    "poll_errors": 2,
    "meters": 4,
    "failing_meters": ["press-02", "paint-oven"],
    "disk_used_bytes": 123456,
    "disk_cap_bytes": 1000000,
    "storage_full": False,
    "readings_dropped": 0,
    "polls_skipped": 1,
    "uptime_s": 3600.5,
    "version": "1.2.3",
}

MESSAGES: list[tuple[str, bytes]] = [
    # accepted: single, arrays, optional fields, one and three phases, RFC 3339, floats
    (_topic("sea", "assembly-01"), _json(_reading())),
    (
        _topic("hmo", "press-01"),
        _json([_reading(ts=TS + 300 * k, energy_kwh=k / 3) for k in range(5)]),
    ),
    (
        _topic("hmo", "press-02"),
        _json(
            [
                _reading(
                    seq=7,
                    energy_total_kwh=123456.789,
                    power_kw=30.0,
                    reactive_kvarh=1.25,
                    power_factor=0.91,
                    voltage_v=[480.1, 479.9, 481.0],
                    current_a=[40.5, 41.0, 39.75],
                ),
                _reading(ts=TS + 300, power_kw=-2, voltage_v=[230]),
                _reading(ts="2026-11-21T07:05:00Z", interval_s=60, energy_kwh=1e-7),
                _reading(ts=TS + 900.4, energy_kwh=1e16 / 1e2, seq=0),
            ]
        ),
    ),
    (_topic("sea", "new-meter"), _json(_reading(ts=TS - 86_400 * 40))),
    # rejected, one reason after another
    ("kilowatch/sea/assembly-01/bad", _json(_reading())),
    ("kilowatch/se a/m/readings", _json(_reading())),
    (_topic("sea", "assembly-01"), b" " * (256 * 1024 + 1)),
    (_topic("sea", "assembly-01"), b'{"ts": 1, "energy_kwh": "\xff"}'),
    (_topic("sea", "assembly-01"), b'{bad json, "quoted"\nnewline}'),
    (_topic("sea", "assembly-01"), b"42"),
    (_topic("sea", "assembly-01"), _json([_reading()] * 1001)),
    (_topic("sea", "assembly-01"), b"[]"),
    (_topic("sea", "assembly-01"), b'{"energy_kwh": 1}'),
    (_topic("sea", "assembly-01"), _json(_reading(ts="yesterday"))),
    (_topic("sea", "assembly-01"), _json(_reading(ts="2026-11-21T07:05:00"))),
    (_topic("sea", "assembly-01"), _json(_reading(ts=int(NOW) + 3600))),
    (_topic("sea", "assembly-01"), b'{"ts": 1795168800}'),
    (_topic("sea", "assembly-01"), _json(_reading(energy_kwh=-1))),
    (_topic("sea", "assembly-01"), _json(_reading(energy_kwh=True))),
    (_topic("sea", "assembly-01"), _json(_reading(interval_s=0))),
    (_topic("sea", "assembly-01"), _json(_reading(seq=-1))),
    (_topic("sea", "assembly-01"), _json(_reading(voltage_v=[1, 2]))),
    (_topic("sea", "assembly-01"), b'{"ts": 1795168800, "energy_kwh": 1, "power_kw": NaN}'),
    (_topic("sea", "assembly-01"), _json(_reading(power_factor=1.5))),
    (_topic("sea", "assembly-01"), _json([_reading(), 3, _reading(ts="x"), _reading(ts=TS + 60)])),
    (_topic("nowhere", "m1"), _json(_reading())),
    # agent status: valid, unknown plant, bad topic, bad fields, bad JSON
    ("kilowatch/hmo/_agents/edge-1/status", _json(STATUS)),
    ("kilowatch/hmo/_agents/edge-2/status", _json({"ts": int(NOW) - 5})),
    ("kilowatch/nowhere/_agents/edge-1/status", _json(STATUS)),
    ("kilowatch/hmo/_agents/edge 1/status", _json(STATUS)),
    ("kilowatch/hmo/_agents/edge-1/status", _json(STATUS | {"poll_errors": -1})),
    ("kilowatch/hmo/_agents/edge-1/status", b"[1, 2"),
]


def _lines() -> list[str]:
    """Every line the bridge writes for MESSAGES, in the order it writes them."""
    config = load_config(EXAMPLE_PLANT_FILE)
    processor = Processor(config)
    layout = LineLayout()
    messages = [Message(t, p, RECEIVED) for t, p in MESSAGES]
    processed = processor.process(messages, NOW)
    lines = [
        line for per_message in layout.batch_lines(processed, messages) for line in per_message
    ]

    strict = KilowatchConfig.model_validate(config.model_dump() | {"accept_unknown_meters": False})
    unknown = Message(_topic("sea", "new-meter"), _json(_reading()), RECEIVED)
    strict_processed = Processor(strict).process([unknown], NOW)
    lines += LineLayout().batch_lines(strict_processed, [unknown])[0]

    refused = Rejection(
        "storage_rejected",
        "InfluxDB refused 1 point(s) of this message: partial write: field type conflict",
        payload=MESSAGES[0][1],
    )
    lines += layout.rejected_lines([refused], RECEIVED)
    for now in (NOW, NOW + 86_400 * 3 + 3600 * 7.5):
        lines += [plant_info_line(info, now) for info in processor.plant_info(now)]

    health = BridgeHealth("bridge-1")
    health.messages_received_total = len(MESSAGES)
    health.stored(
        readings=processed.readings,
        rejected=processed.rejected,
        seconds=0.125,
        lag_s=0.25,
        newest_ts=processed.newest_ts,
    )
    health.retried()
    lines.append(health.point(health.take_window(), NOW, 17))
    lines.append(health.point(health.take_window(), NOW + 1, 0))

    tariffs = processor.tariffs
    for plant_id, columns in sorted(processed.stored_readings().items()):
        bill = RunningBill(tariffs[plant_id], plant_id)
        for meter, start, stop in columns.runs:
            bill.add_many(
                meter,
                columns.ts[start:stop],
                columns.interval_s[start:stop],
                columns.energy_kwh[start:stop],
                columns.reactive_kvarh[start:stop],
            )
        lines += [billing_line(point) for point in bill.points(NOW)]
    return lines


def test_the_lines_written_are_byte_identical_to_the_golden_file() -> None:
    text = "".join(line + "\n" for line in _lines())
    if os.environ.get("KILOWATCH_WRITE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip("golden file written")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_golden_file_covers_every_kind_of_point_and_reason() -> None:
    text = GOLDEN.read_text(encoding="utf-8")
    for head in (
        "energy,",
        "rejected,",
        "agent_status,",
        "plant_info,",
        "kilowatch_bridge,",
        "billing,",
    ):
        assert f"\n{head}" in "\n" + text, head
    from typing import get_args

    from kilowatch.contract import RejectReason

    reasons = set(get_args(RejectReason)) - {"internal_error"}
    assert {r for r in reasons if f",reason={r} " not in text} == set()
