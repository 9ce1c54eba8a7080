"""The storage fallback the bridge and the Lambda share, against a real InfluxDB 1.x: a point
InfluxDB refuses costs no other reading, and is set aside as `storage_rejected`."""

from __future__ import annotations

import pytest

from kilowatch.config import load_config
from kilowatch.influx.schema import LineLayout
from kilowatch.influx.writer import InfluxTarget, InfluxV1Writer
from kilowatch.processing import Message, Processor
from kilowatch.storage import store_batch
from tests.bridge.conftest import EXAMPLE_PLANT_FILE
from tests.support.services import InfluxDB1

TOPIC = "kilowatch/sea/assembly-01/readings"
END = 1_795_178_700  # a 5-minute boundary


def batch() -> tuple[list[Message], Processor]:
    refused = f'{{"ts": {END - 600}, "energy_kwh": 3, "seq": 7}}'
    messages = [
        Message(TOPIC, f'{{"ts": {END - 900}, "energy_kwh": 2}}'.encode(), END + 1.0),
        Message(TOPIC, f'[{{"ts": {END - 300}, "energy_kwh": 4}}, {refused}]'.encode(), END + 2.0),
        Message(TOPIC, b'{"ts": "soon"}', END + 3.0),
    ]
    return messages, Processor(load_config(EXAMPLE_PLANT_FILE))


@pytest.mark.integration
def test_a_refused_point_is_set_aside_and_the_rest_stored(
    influxdb: InfluxDB1, influx_db_name: str
) -> None:
    # `seq` already stored as text in this shard: InfluxDB refuses any integer `seq` in it.
    influxdb.write(influx_db_name, [f'energy,meter=legacy seq="7" {END}'])
    messages, processor = batch()
    processed = processor.process(messages, now=END + 10.0)
    layout = LineLayout()
    writer = InfluxV1Writer(InfluxTarget(influxdb.url, influx_db_name))
    writes: list[int] = []

    def write(lines: list[str]) -> bool:
        writes.append(len(lines))
        writer.write(lines)
        return True

    try:
        refused = store_batch(
            write,
            messages,
            processed,
            layout.batch_lines(processed, messages),
            layout.rejected_lines,
        )
    finally:
        writer.close()
    assert refused == {("sea", "assembly-01", END - 600)}
    assert len(writes) > 1  # the batch, then message by message, then point by point
    stored = influxdb.query(
        "SELECT energy_kwh FROM energy WHERE meter != 'legacy'", db=influx_db_name
    )
    assert sorted(row["energy_kwh"] for row in stored) == [2, 4]
    rows = influxdb.query("SELECT reason, detail FROM rejected", db=influx_db_name)
    assert sorted(row["reason"] for row in rows) == ["invalid_ts", "storage_rejected"]
    [detail] = [row["detail"] for row in rows if row["reason"] == "storage_rejected"]
    assert "field type conflict" in detail and "1 point(s)" in detail
    assert processed.stored_ts(refused) == {0: [END - 900], 1: [END - 300]}
    assert processed.refused_ts(refused) == {1: [END - 600]}


def test_a_write_stopped_first_stores_nothing_more() -> None:
    messages, processor = batch()
    processed = processor.process(messages, now=END + 10.0)
    layout = LineLayout()
    calls: list[list[str]] = []

    def stopped(lines: list[str]) -> bool:
        calls.append(lines)
        return False  # what write_with_retry answers once its stop event is set

    lines = layout.batch_lines(processed, messages)
    assert store_batch(stopped, messages, processed, lines, layout.rejected_lines) is None
    assert len(calls) == 1
