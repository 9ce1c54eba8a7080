"""The InfluxDB writers against a real InfluxDB 1.x: what is stored and what is retried."""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from kilowatch.influx.lineprotocol import number_texts
from kilowatch.influx.writer import (
    InfluxTarget,
    InfluxV1Writer,
    InfluxWriteError,
    RetryPolicy,
    detect_version,
    open_writer,
    write_with_retry,
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


def test_retry_waits_grow_to_the_cap_each_within_its_jitter() -> None:
    policy = RetryPolicy(initial_s=0.5, max_s=4.0, exponential_base=2.0, jitter=0.2)
    waits = list(itertools.islice(policy.delays(random.Random(7)), 8))
    for wait, nominal in zip(waits, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0], strict=True):
        assert nominal * 0.8 <= wait <= nominal * 1.2
    assert len(set(waits[3:])) > 1  # the capped waits still vary: writers do not retry in step


def test_a_retry_gives_up_after_max_attempts_on_an_unreachable_server() -> None:
    writer = InfluxV1Writer(InfluxTarget(f"http://127.0.0.1:{free_port()}", "unused"))
    retried: list[float] = []
    policy = RetryPolicy(initial_s=0.01, max_s=0.02, max_attempts=3)
    with pytest.raises(InfluxWriteError) as caught:
        write_with_retry(writer, ["m v=1 1"], policy, on_retry=lambda _e, d: retried.append(d))
    assert caught.value.retryable and len(retried) == 2


def test_a_stopped_retry_returns_false_and_a_refused_point_is_not_retried(
    influxdb: InfluxDB1, influx_db_name: str
) -> None:
    down = InfluxV1Writer(InfluxTarget(f"http://127.0.0.1:{free_port()}", "unused"))
    stop = threading.Event()
    stop.set()
    assert write_with_retry(down, ["m v=1 1"], RetryPolicy(initial_s=0.01), stop=stop) is False

    writer = open_writer(InfluxTarget(influxdb.url, influx_db_name), "1")
    retried: list[float] = []
    try:
        with pytest.raises(InfluxWriteError) as caught:
            write_with_retry(
                writer,
                ["m v=1 1", "m v=nope 2"],
                RetryPolicy(),
                on_retry=lambda *_: retried.append(0),
            )
        assert not caught.value.retryable and retried == []
        assert write_with_retry(writer, ["m v=1 1"], RetryPolicy()) is True
    finally:
        writer.close()
