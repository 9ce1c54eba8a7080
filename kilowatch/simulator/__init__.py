"""The meter simulator: realistic plants published over MQTT (see README.md)."""

from __future__ import annotations

from kilowatch.simulator.modbus import run_modbus_server
from kilowatch.simulator.runner import run_simulator
from kilowatch.simulator.settings import SimulatorSettings, parse_duration

__all__ = ["SimulatorSettings", "parse_duration", "run_modbus_server", "run_simulator"]
