"""The bridge's health counters and what it reports."""

from __future__ import annotations

from kilowatch.bridge.health import BridgeHealth


def test_window_counts_then_starts_again() -> None:
    health = BridgeHealth("bridge-1")
    health.messages_received_total += 3
    health.stored(readings=250, rejected=2, seconds=0.5, lag_s=1.5, newest_ts=1000)
    health.stored(readings=50, rejected=0, seconds=0.1, lag_s=0.5, newest_ts=900)
    health.retried()
    window = health.take_window()
    assert (window.messages_received, window.readings_written, window.rejected) == (3, 300, 2)
    assert window.readings_received == 302 and window.batches == 2 and window.retries == 1
    assert window.lag_s == 1.5
    line = health.point(window, now=1030.0, queue_depth=7)
    assert line.startswith("kilowatch_bridge,bridge=bridge-1 messages_received=3i,")
    assert "batch_latency_ms=300.0," in line and "queue_depth=7i" in line
    assert "reading_age_s=30.0" in line and line.endswith(" 1030000000000")
    assert health.take_window().readings_written == 0
    assert health.totals.readings_written == 300


def test_summary_line_gives_rates_and_totals() -> None:
    health = BridgeHealth("b")
    health.stored(readings=600, rejected=1, seconds=0.2, lag_s=0.3, newest_ts=None)
    text = health.summary(health.take_window(), period_s=60, queue_depth=0)
    assert text.startswith("stored 600 readings (10/s), rejected 1, retries 0, max lag 0.3 s")
    assert text.endswith("totals: 600 stored, 1 rejected")


def test_a_window_given_back_is_reported_with_the_next() -> None:
    health = BridgeHealth("b")
    health.messages_received_total += 5
    health.stored(readings=40, rejected=1, seconds=0.2, lag_s=2.0, newest_ts=None)
    health.retried()
    unwritten = health.take_window()  # InfluxDB was down: its point could not be written
    health.give_back(unwritten)
    health.messages_received_total += 2
    health.stored(readings=10, rejected=0, seconds=0.1, lag_s=0.5, newest_ts=None)
    window = health.take_window()
    assert (window.messages_received, window.readings_written, window.retries) == (7, 50, 1)
    assert (window.rejected, window.batches, window.lag_s) == (1, 2, 2.0)
    assert (health.totals.readings_written, health.totals.retries) == (50, 1)
