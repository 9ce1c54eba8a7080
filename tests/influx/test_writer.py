"""The InfluxDB writers against a real InfluxDB 1.x: what is stored and what is retried."""

from __future__ import annotations

import pytest

from kilowatch.influx.lineprotocol import number_texts
from kilowatch.influx.writer import (
    InfluxTarget,
    InfluxV1Writer,
    InfluxWriteError,
    detect_version,
    open_writer,
)
from tests.support.services import InfluxDB1, free_port

pytestmark = pytest.mark.integration


def test_version_is_detected_from_ping(influxdb: InfluxDB1) -> None:
    assert detect_version(influxdb.url) == "1"


def test_open_writer_creates_the_database_and_stores_lines(influxdb: InfluxDB1) -> None:
    writer = open_writer(InfluxTarget(influxdb.url, "writer_creates_db"), "1")
    try:
        writer.write(["m,t=a v=1.5 1000000000", "m,t=b v=2.5 1000000000"])
        rows = influxdb.query("SELECT v FROM m", db="writer_creates_db")
        assert sorted(r["v"] for r in rows) == [1.5, 2.5]
    finally:
        writer.close()
        influxdb.drop_database("writer_creates_db")


def test_every_float_is_stored_exactly(influxdb: InfluxDB1, influx_db_name: str) -> None:
    values = [5e-324, 1e-7, 0.1 + 0.2, 1e16, 1.2345678901234568e17, 1.7976931348623157e308, -2.5]
    writer = InfluxV1Writer(InfluxTarget(influxdb.url, influx_db_name))
    try:
        writer.write(
            [f"m v={text} {n + 1}000000000" for n, text in enumerate(number_texts(values))]
        )
        rows = influxdb.query("SELECT v FROM m", db=influx_db_name)
        assert [row["v"] for row in rows] == values
    finally:
        writer.close()


def test_a_refused_point_is_not_retryable(influxdb: InfluxDB1, influx_db_name: str) -> None:
    writer = InfluxV1Writer(InfluxTarget(influxdb.url, influx_db_name))
    writer.write(["m v=1 1000000000"])
    with pytest.raises(InfluxWriteError) as refused:
        writer.write(['m v="text" 2000000000'])  # field type conflict: float, then string
    assert refused.value.status == 400 and not refused.value.retryable
    assert "conflict" in str(refused.value)


def test_an_unreachable_server_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InfluxWriteError) as down:
        InfluxV1Writer(InfluxTarget(url, "db")).write(["m v=1 1"])
    assert down.value.retryable
    with pytest.raises(InfluxWriteError, match="not reachable"):
        detect_version(url)


def test_a_missing_database_is_retried_not_dropped(influxdb: InfluxDB1) -> None:
    """404 (database not found) is a configuration problem an operator fixes: keep the data."""
    with pytest.raises(InfluxWriteError) as missing:
        InfluxV1Writer(InfluxTarget(influxdb.url, "never_created")).write(["m v=1 1"])
    assert missing.value.status == 404 and missing.value.retryable
