"""The edge agent: polls meters, keeps each reading in SQLite until the broker has it, publishes."""

from __future__ import annotations

from kilowatch.agent.maps import MapError, load_map
from kilowatch.agent.runner import run_agent
from kilowatch.agent.settings import AgentSettings

__all__ = ["AgentSettings", "MapError", "load_map", "run_agent"]
