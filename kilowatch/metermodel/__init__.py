"""The synthetic meter model: a plant meter's load over shifts, holidays and machine cycles,
as registers and readings (pure, deterministic from a seed). The simulator publishes it; the
agent's simulated source reads it in place of hardware."""

from __future__ import annotations

from kilowatch.metermodel.model import MeterProfile, Register, SimulatedMeter, default_profile

__all__ = ["MeterProfile", "Register", "SimulatedMeter", "default_profile"]
