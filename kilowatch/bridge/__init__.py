"""The bridge: MQTT readings in, costed points in InfluxDB out (see README.md beside this file)."""

from kilowatch.bridge.runner import run_bridge
from kilowatch.bridge.settings import BridgeSettings

__all__ = ["BridgeSettings", "run_bridge"]
