"""The bridge's running bills take costed batches as columns: the bill of every reading."""

from __future__ import annotations

import pytest

from kilowatch.billing.running import RunningBill
from kilowatch.bridge.bills import RunningBills
from kilowatch.config import load_config
from kilowatch.influx.schema import billing_line
from kilowatch.processing import Message, Processor
from tests.bridge.conftest import EXAMPLE_PLANT_FILE

START = 1_796_000_000  # 2026-11-29
NOW = START + 86400.0


def payload(meter: int, first: int, count: int) -> bytes:
    readings = ",".join(
        f'{{"ts": {START + 300 * i}, "energy_kwh": {1 + (i + meter) % 7}}}'
        for i in range(first, first + count)
    )
    return f"[{readings}]".encode()


def test_batches_in_columns_give_the_bill_of_every_reading() -> None:
    processor = Processor(load_config(EXAMPLE_PLANT_FILE))
    tariffs = processor.tariffs
    bills = RunningBills({plant: RunningBill(tariff, plant) for plant, tariff in tariffs.items()})
    expected = RunningBill(tariffs["sea"], "sea")
    # Three meters' arrays, interleaved across two batches; one array sent twice.
    messages = [
        Message(f"kilowatch/sea/m{meter}/readings", payload(meter, first, 50), NOW)
        for first in (0, 50, 100)
        for meter in range(3)
    ]
    batches = [messages[:4], messages[4:], messages[2:3]]
    for batch in batches:
        bills.count(processor.process(batch, NOW).stored_readings())
    for meter in range(3):
        ts = [START + 300 * i for i in range(150)]
        energy = [1 + (i + meter) % 7 for i in range(150)]
        expected.add_many(f"m{meter}", ts, [300] * 150, energy)

    got = dict(map(_series_fields, bills.lines(NOW)))
    want = dict(_series_fields(billing_line(point)) for point in expected.points(NOW))
    assert len(want) == 4  # the plant and its three meters
    for series, fields in want.items():
        assert got[series] == pytest.approx(fields, rel=1e-12)


def _series_fields(line: str) -> tuple[str, dict[str, float]]:
    """A `billing` line's series (measurement and tags) and its fields."""
    series, fields, _ = line.split(" ")
    return series, {k: float(v.rstrip("i")) for k, v in (f.split("=") for f in fields.split(","))}
