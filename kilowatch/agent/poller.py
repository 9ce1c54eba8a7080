"""One poll: read every meter, turn registers into readings; a meter that fails skips this poll."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from kilowatch.agent.energy import CounterRules, MeterState, advance
from kilowatch.agent.sources.base import MeterSource, SourceError
from kilowatch.contract import Reading

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PollResult:
    """Readings and new baselines to commit together, and the meters that failed (why)."""

    readings: list[Reading] = field(default_factory=list)
    states: list[MeterState] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class Poller:
    """Reads the meters in turn; an error is reported for that meter and the others go on."""

    def __init__(
        self, plant: str, sources: Mapping[str, MeterSource], rules: Mapping[str, CounterRules]
    ) -> None:
        self.plant = plant
        self.sources = sources
        self.rules = rules

    def poll(self, ts: int, states: Mapping[str, MeterState]) -> PollResult:
        """Poll every meter for slot time `ts`, measuring from the committed `states`."""
        result = PollResult()
        for meter, source in self.sources.items():
            try:
                sample, warnings = source.read(ts)
            except SourceError as err:
                result.errors[meter] = err.reason
                continue
            for warning in warnings:
                logger.warning("meter %s at %d: %s", meter, ts, warning)
            step = advance(self.plant, meter, states.get(meter), sample, ts, self.rules[meter])
            if step.event == "stale":
                logger.warning("meter %s: %s; poll ignored (clock set back?)", meter, step.detail)
                continue
            if step.event == "implausible":
                logger.error("meter %s at %d: %s", meter, ts, step.detail)
            elif step.event == "baseline":
                logger.info("meter %s: %s", meter, step.detail)
            elif step.detail:
                logger.warning("meter %s at %d: %s", meter, ts, step.detail)
            result.readings.extend(step.readings)
            result.states.append(step.state)
        return result
