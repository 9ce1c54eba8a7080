"""The edge agent: polls meters, keeps each reading in SQLite until the broker has it, publishes."""

from __future__ import annotations

from kilowatch.agent.runner import run_agent
from kilowatch.agent.settings import AgentSettings

__all__ = ["AgentSettings", "run_agent"]
