"""The one small interface every meter source implements."""

from __future__ import annotations

from typing import Protocol

from kilowatch.agent.energy import MeterSample


class SourceError(Exception):
    """A meter could not be read this time; the message says which meter and why."""

    def __init__(self, meter: str, reason: str) -> None:
        super().__init__(f"meter {meter}: {reason}")
        self.meter = meter
        self.reason = reason


class MeterSource(Protocol):
    """Reads one meter. `read` raises SourceError on any failure and never anything else."""

    meter: str

    def read(self, ts: int) -> tuple[MeterSample, list[str]]:
        """The meter now (`ts`: the poll's slot time) and warnings about values left out."""
        ...

    def close(self) -> None: ...
