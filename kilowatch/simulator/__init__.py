"""The meter simulator: realistic plants published over MQTT (see README.md)."""

from __future__ import annotations

from kilowatch.simulator.runner import run_simulator
from kilowatch.simulator.settings import SimulatorSettings, parse_duration

__all__ = ["SimulatorSettings", "parse_duration", "run_simulator"]
