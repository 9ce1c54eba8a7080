"""The pure core: MQTT messages in, validated and costed readings and set-aside input out.

No MQTT, no threads, no line protocol and no clock: the caller gives each message's receive
time and `now`. The bridge and the AWS Lambda call exactly this, then lay the result out as
InfluxDB lines with kilowatch.influx.schema (see docs/architecture.md).
"""

from __future__ import annotations

import logging
import operator
from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from kilowatch.config import UNASSIGNED_LINE, KilowatchConfig
from kilowatch.contract import (
    AGENTS_LEVEL,
    DEFAULT_PREFIX,
    AgentStatus,
    Parsed,
    Reading,
    Rejection,
    parse_agent_status,
    parse_message,
)
from kilowatch.tariff import PlantTariff, Tariff, load_tariff

logger = logging.getLogger(__name__)

_TS, _INTERVAL, _ENERGY, _KVARH = map(
    operator.attrgetter, ("ts", "interval_s", "energy_kwh", "reactive_kvarh")
)
Key = tuple[str, str, int]  # (plant, meter, ts): a reading's identity


class Message(NamedTuple):
    """An MQTT message as received (a tuple: the bridge makes thousands a second)."""

    topic: str
    payload: bytes
    received_at: float  # Unix seconds


class ReadingColumns(NamedTuple):
    """One plant's accepted readings of a batch as columns, in the order their messages came.

    A message holds one meter's readings, so the rows come in runs of one meter: `runs` says
    which rows are whose. Columns let the running bills take a batch without a loop in Python.
    """

    runs: list[tuple[str, int, int]]  # (meter, first row, row after the last)
    ts: np.ndarray  # int64, Unix seconds
    interval_s: np.ndarray  # int64
    energy_kwh: np.ndarray  # float64
    reactive_kvarh: np.ndarray  # float64, NaN where not measured

    def __len__(self) -> int:
        return len(self.ts)

    def without(self, plant: str, refused: Container[Key]) -> ReadingColumns:
        """These readings but those refused, by (plant, meter, ts)."""
        keep = np.ones(len(self.ts), dtype=bool)
        runs = []
        kept = 0
        for meter, start, stop in self.runs:
            for row, ts in enumerate(self.ts[start:stop].tolist(), start):
                keep[row] = (plant, meter, ts) not in refused
            count = int(keep[start:stop].sum())
            runs.append((meter, kept, kept + count))
            kept += count
        return ReadingColumns(
            runs,
            self.ts[keep],
            self.interval_s[keep],
            self.energy_kwh[keep],
            self.reactive_kvarh[keep],
        )


class CostedReadings(NamedTuple):
    """One plant's accepted readings of a batch with their cost; run i is message messages[i]."""

    plant: str
    tariff: str  # the tariff's key
    columns: ReadingColumns
    messages: list[int]  # index of each run's message in the batch
    lines: list[str]  # each run's production line (from the plant file)
    readings: list[Reading]  # the rows, for their optional fields
    period: list[str]  # tariff period of each row
    cost: np.ndarray  # float64, with taxes
    rate: np.ndarray  # float64, per kWh with taxes


@dataclass(slots=True)
class Processed:
    """What a batch of messages became: costed readings by plant, and per message what was set
    aside (rejections) or reported (agent status)."""

    costed: dict[str, CostedReadings] = field(default_factory=dict)  # by plant
    set_aside: dict[int, list[Rejection]] = field(default_factory=dict)  # by message index
    statuses: dict[int, AgentStatus] = field(default_factory=dict)  # by message index
    readings: int = 0
    rejected: int = 0
    newest_ts: int | None = None

    @property
    def rejections(self) -> list[Rejection]:
        """Every rejection of the batch, in the order of the messages."""
        return [r for index in sorted(self.set_aside) for r in self.set_aside[index]]

    @property
    def accepted(self) -> dict[str, ReadingColumns]:
        """The accepted readings by plant."""
        return {plant: costed.columns for plant, costed in self.costed.items()}

    def stored_readings(self, refused: Container[Key] = frozenset()) -> dict[str, ReadingColumns]:
        """The accepted readings by plant, but those InfluxDB refused, by (plant, meter, ts)."""
        if not refused:
            return self.accepted
        return {
            plant: costed.columns.without(plant, refused) for plant, costed in self.costed.items()
        }

    def stored_ts(self, refused: Container[Key] = frozenset()) -> dict[int, list[int]]:
        """The timestamps stored of each message with accepted readings (by message index):
        its accepted readings but those InfluxDB refused, by (plant, meter, ts)."""
        return {
            index: [ts for ts in timestamps if (plant, meter, ts) not in refused]
            for index, plant, meter, timestamps in self._message_ts()
        }

    def refused_ts(self, refused: Container[Key]) -> dict[int, list[int]]:
        """The timestamps InfluxDB refused, of each message (by index) that had any refused."""
        out = {}
        for index, plant, meter, timestamps in self._message_ts():
            found = [ts for ts in timestamps if (plant, meter, ts) in refused]
            if found:
                out[index] = found
        return out

    def _message_ts(self) -> list[tuple[int, str, str, list[int]]]:
        """(message index, plant, meter, timestamps) of each message's accepted readings."""
        return [
            (index, plant, meter, costed.columns.ts[start:stop].tolist())
            for plant, costed in self.costed.items()
            for (meter, start, stop), index in zip(
                costed.columns.runs, costed.messages, strict=True
            )
        ]

    def reading_keys(self, index: int) -> list[Key]:
        """(plant, meter, ts) of each accepted reading of message `index`, in order."""
        for plant, costed in self.costed.items():
            if index in costed.messages:
                meter, start, stop = costed.columns.runs[costed.messages.index(index)]
                return [(plant, meter, ts) for ts in costed.columns.ts[start:stop].tolist()]
        return []


@dataclass(frozen=True, slots=True)
class PlantInfo:
    """A plant's identity, currency and the rate now (with taxes), and its next change."""

    plant: str
    name: str
    timezone: str
    currency: str
    tariff: str  # the tariff's key
    tax_percent: float
    period_now: str
    rate_now: float
    next_change_ts: int | None = None
    next_period: str | None = None
    next_rate: float | None = None


class Processor:
    """Validates, enriches from the plant file and costs readings from each plant's tariff."""

    def __init__(self, config: KilowatchConfig, prefix: str = DEFAULT_PREFIX) -> None:
        self._config = config
        self._prefix = prefix
        self._tariffs: dict[str, PlantTariff] = {}
        tariff_cache: dict[str, Tariff] = {}  # plants sharing a tariff file load it once
        for plant in config.plants:
            path = str(plant.tariff)
            tariff = tariff_cache.get(path) or load_tariff(plant.tariff)
            tariff_cache[path] = tariff
            self._tariffs[plant.id] = PlantTariff(tariff, plant.zone)
        self._status_prefix = f"/{AGENTS_LEVEL}/"

    @property
    def tariffs(self) -> dict[str, PlantTariff]:
        """Each plant's tariff in its local time, by plant id."""
        return dict(self._tariffs)

    def plant_info(self, now: float) -> list[PlantInfo]:
        """Each plant's info at `now`; rates include the tariff's taxes, like reading costs."""
        out = []
        for plant in self._config.plants:
            costing = self._tariffs[plant.id]
            tariff = costing.tariff
            with_tax = 1 + tariff.tax_percent / 100
            current = costing.rate_at(int(now))
            upcoming = costing.next_change(int(now))
            info = PlantInfo(
                plant=plant.id,
                name=plant.name or plant.id,
                timezone=plant.timezone,
                currency=tariff.currency,
                tariff=tariff.key,
                tax_percent=float(tariff.tax_percent),
                period_now=current.period,
                rate_now=current.rate_per_kwh * with_tax,
            )
            if upcoming is not None:
                change_ts, rate = upcoming
                info = replace(
                    info,
                    next_change_ts=int(change_ts),
                    next_period=rate.period,
                    next_rate=rate.rate_per_kwh * with_tax,
                )
            out.append(info)
        return out

    def process(self, messages: Sequence[Message], now: float) -> Processed:
        """Parse, validate and cost a batch; never raises on bad input."""
        out = Processed()
        # Each plant's accepted readings, message by message: (message index, its readings).
        accepted: dict[str, list[tuple[int, list[Reading]]]] = defaultdict(list)
        for index, message in enumerate(messages):
            try:
                if self._status_prefix in message.topic:
                    self._agent_status(index, message, out)
                    continue
                parsed = parse_message(message.topic, message.payload, now, self._prefix)
            except Exception as err:  # a bug must not stop every plant's data: set this aside
                logger.exception("could not parse a message on %s", message.topic[:200])
                parsed = Parsed(
                    rejections=[
                        Rejection(
                            "internal_error",
                            f"kilowatch failed: {err!r}"[:1000],
                            payload=message.payload,
                        )
                    ]
                )
            rejections = parsed.rejections
            readings = parsed.readings
            if readings:
                readings, more = self._enrichable(readings, message.payload)
                rejections = rejections + more
            if readings:
                accepted[readings[0].plant].append((index, readings))
            if rejections:
                out.set_aside[index] = rejections
                out.rejected += len(rejections)
        for plant, groups in accepted.items():
            out.costed[plant] = self._cost(plant, groups)
        out.readings = sum(len(costed.columns) for costed in out.costed.values())
        if out.costed:
            out.newest_ts = max(int(c.columns.ts.max()) for c in out.costed.values())
        return out

    def _agent_status(self, index: int, message: Message, out: Processed) -> None:
        """An edge agent's health report (or a rejection)."""
        status = parse_agent_status(message.topic, message.payload, self._prefix)
        if isinstance(status, AgentStatus) and status.plant not in self._config.plant_by_id:
            status = Rejection(
                "unknown_plant",
                f"agent {status.agent} reports for plant {status.plant!r}, not in the plant file",
                status.plant,
                "",
                message.payload,
            )
        if isinstance(status, Rejection):
            out.set_aside[index] = [status]
            out.rejected += 1
        else:
            out.statuses[index] = status

    def _enrichable(
        self, readings: list[Reading], payload: bytes
    ) -> tuple[list[Reading], list[Rejection]]:
        """Readings of known plants (and declared meters, if required); the rest set aside."""
        first = readings[0]  # a message carries one plant and one meter (from its topic)
        plant = self._config.plant_by_id.get(first.plant)
        if plant is None:
            return [], [
                Rejection(
                    "unknown_plant",
                    f"plant {first.plant!r} is not in the plant file; add it or fix the topic",
                    first.plant,
                    first.meter,
                    payload,
                )
            ]
        if not self._config.accept_unknown_meters and first.meter not in plant.line_of_meter:
            return [], [
                Rejection(
                    "unknown_meter",
                    f"meter {first.meter!r} is not declared under plant {plant.id!r}",
                    first.plant,
                    first.meter,
                    payload,
                )
            ]
        return readings, []

    def _cost(self, plant_id: str, groups: list[tuple[int, list[Reading]]]) -> CostedReadings:
        """Cost a plant's readings in one call, as columns."""
        readings = [reading for _, group in groups for reading in group]
        count = len(readings)
        ts = np.fromiter(map(_TS, readings), dtype=np.int64, count=count)
        interval = np.fromiter(map(_INTERVAL, readings), dtype=np.int64, count=count)
        energy = np.fromiter(map(_ENERGY, readings), dtype=np.float64, count=count)
        costing = self._tariffs[plant_id]
        costs = costing.cost_many(ts, interval, energy)
        line_of_meter = self._config.plant_by_id[plant_id].line_of_meter
        runs = []
        lines = []
        start = 0
        for _, group in groups:
            meter = group[0].meter  # a message holds one meter's readings (from its topic)
            runs.append((meter, start, start + len(group)))
            lines.append(line_of_meter.get(meter, UNASSIGNED_LINE))
            start += len(group)
        kvarh = list(map(_KVARH, readings))
        if kvarh.count(None) == count:
            reactive = np.full(count, np.nan)
        else:
            reactive = np.array([np.nan if k is None else k for k in kvarh], dtype=np.float64)
        return CostedReadings(
            plant=plant_id,
            tariff=costing.tariff.key,
            columns=ReadingColumns(runs, ts, interval, energy, reactive),
            messages=[index for index, _ in groups],
            lines=lines,
            readings=readings,
            period=costs.period.tolist(),
            cost=costs.cost,
            rate=costs.rate,
        )
