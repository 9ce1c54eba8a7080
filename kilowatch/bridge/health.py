"""The bridge's counters, reported as a `kilowatch_bridge` point and a log line."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields

from kilowatch.influx.schema import bridge_health_line


@dataclass(slots=True)
class Window:
    """What happened since the last report."""

    messages_received: int = 0
    readings_received: int = 0
    readings_written: int = 0
    rejected: int = 0
    retries: int = 0
    batches: int = 0
    batch_seconds: float = 0.0
    lag_s: float = 0.0

    def add(self, other: Window) -> None:
        """Accumulate another window into this one (lag keeps the worst)."""
        for f in fields(Window):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, max(mine, theirs) if f.name == "lag_s" else mine + theirs)


@dataclass
class BridgeHealth:
    """Counters: the MQTT thread counts arrivals, the store threads the rest (under a lock)."""

    bridge: str
    window: Window = field(default_factory=Window)
    totals: Window = field(default_factory=Window)
    newest_ts: int | None = None
    messages_received_total: int = 0  # counted by the MQTT thread alone, without a lock
    _reported_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stored(
        self, *, readings: int, rejected: int, seconds: float, lag_s: float, newest_ts: int | None
    ) -> None:
        with self._lock:
            w = self.window
            w.readings_received += readings + rejected
            w.readings_written += readings
            w.rejected += rejected
            w.batches += 1
            w.batch_seconds += seconds
            w.lag_s = max(w.lag_s, lag_s)
            if newest_ts is not None and (self.newest_ts is None or newest_ts > self.newest_ts):
                self.newest_ts = newest_ts

    def retried(self) -> None:
        with self._lock:
            self.window.retries += 1

    def take_window(self) -> Window:
        """The counters since the last call, which start again from zero."""
        with self._lock:
            window, self.window = self.window, Window()
            received = self.messages_received_total
            window.messages_received = received - self._reported_received
            self._reported_received = received
            self.totals.add(window)
            return window

    def give_back(self, window: Window) -> None:
        """Return a taken window whose point could not be written: the next one carries it."""
        with self._lock:
            self._reported_received -= window.messages_received
            for f in fields(Window):
                if f.name != "lag_s":  # the totals' lag is a maximum, not a sum
                    total = getattr(self.totals, f.name) - getattr(window, f.name)
                    setattr(self.totals, f.name, total)
            window.messages_received = 0  # counted again from messages_received_total
            self.window.add(window)

    def point(self, window: Window, now: float, queue_depth: int) -> str:
        """The `kilowatch_bridge` line for one reporting window."""
        values: dict[str, float | int] = {
            "messages_received": window.messages_received,
            "readings_received": window.readings_received,
            "readings_written": window.readings_written,
            "rejected": window.rejected,
            "retries": window.retries,
            "batches": window.batches,
            "batch_latency_ms": (
                1000.0 * window.batch_seconds / window.batches if window.batches else 0.0
            ),
            "lag_s": float(window.lag_s),
            "queue_depth": queue_depth,
        }
        if self.newest_ts is not None:
            values["reading_age_s"] = float(now - self.newest_ts)
        return bridge_health_line(self.bridge, values, now)

    def summary(self, window: Window, period_s: float, queue_depth: int) -> str:
        """A log line: rates over the period and the totals so far."""
        rate = window.readings_written / period_s if period_s > 0 else 0.0
        return (
            f"stored {window.readings_written} readings ({rate:.0f}/s), "
            f"rejected {window.rejected}, retries {window.retries}, "
            f"max lag {window.lag_s:.1f} s, queue {queue_depth}; "
            f"totals: {self.totals.readings_written} stored, {self.totals.rejected} rejected"
        )
