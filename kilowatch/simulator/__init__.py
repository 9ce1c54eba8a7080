"""The meter simulator: realistic plants published over MQTT (see README.md)."""

from __future__ import annotations

from kilowatch.simulator.model import MeterProfile, Register, SimulatedMeter, default_profile
from kilowatch.simulator.runner import run_simulator
from kilowatch.simulator.settings import SimulatorSettings, parse_duration

__all__ = [
    "MeterProfile",
    "Register",
    "SimulatedMeter",
    "SimulatorSettings",
    "default_profile",
    "parse_duration",
    "run_simulator",
]
