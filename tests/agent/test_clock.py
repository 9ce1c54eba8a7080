"""The accelerated clock keeps one timeline across restarts and never runs into the future."""

from __future__ import annotations

import pytest

from kilowatch.agent import clock as clock_module
from kilowatch.agent.clock import AcceleratedClock


def test_agent_time_runs_speed_times_faster_from_the_anchor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_000_010.0)
    clock = AcceleratedClock(start=900_000.0, speed=600, anchor=1_000_000.0)
    assert clock.now() == 900_000.0 + 10 * 600
    assert clock.real_seconds(300) == 0.5


def test_a_restarted_agent_continues_the_same_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_000_020.0)
    first = AcceleratedClock(start=900_000.0, speed=100, anchor=1_000_000.0)
    again = AcceleratedClock(start=900_000.0, speed=100, anchor=1_000_000.0)
    assert first.now() == again.now() == 902_000.0


def test_agent_time_stops_at_the_wall_clock_then_follows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_000_100.0)
    clock = AcceleratedClock(start=999_000.0, speed=600, anchor=1_000_000.0)
    assert clock.now() == 1_000_100.0
    assert clock.real_seconds(300) == 300
