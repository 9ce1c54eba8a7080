"""The bridge's pure core: MQTT messages in, costed line protocol out (no I/O).

Every message becomes its own list of lines, so the shell can acknowledge each message once
exactly its lines are stored, and find which of a message's points InfluxDB refuses.
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections import defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, cast

import numpy as np

from kilowatch.agent.status import (
    AGENTS_LEVEL,
    AgentStatus,
    agent_status_line,
    parse_agent_status,
)
from kilowatch.config import UNASSIGNED_LINE, KilowatchConfig
from kilowatch.contract import (
    DEFAULT_PREFIX,
    MAX_PHASES,
    Parsed,
    Reading,
    Rejection,
    parse_message,
)
from kilowatch.influx.lineprotocol import NS_PER_S, escape_tag, format_point, number_texts
from kilowatch.tariff import PlantTariff, Tariff, load_tariff

logger = logging.getLogger(__name__)

MAX_STORED_PAYLOAD_BYTES = 4096
_TS, _INTERVAL, _ENERGY, _KVARH = map(
    operator.attrgetter, ("ts", "interval_s", "energy_kwh", "reactive_kvarh")
)
OPTIONAL_CHUNK = 1024  # readings whose optional fields are formatted together
MAX_CACHED_SERIES = 100_000  # (plant, meter) line heads kept
ENERGY = "energy"
REJECTED = "rejected"
PLANT_INFO = "plant_info"


class Message(NamedTuple):
    """An MQTT message as the bridge received it (a tuple: the bridge makes thousands a second)."""

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

    def without(self, plant: str, refused: Container[tuple[str, str, int]]) -> ReadingColumns:
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


@dataclass(slots=True)
class Prepared:
    """The lines to write for a batch of messages, one list per message, and what they hold."""

    lines: list[list[str]]
    readings: int = 0
    rejected: int = 0
    newest_ts: int | None = None
    rejections: list[Rejection] = field(default_factory=list)
    accepted: dict[str, ReadingColumns] = field(default_factory=dict)  # by plant

    def stored_readings(
        self, refused: Container[tuple[str, str, int]] = frozenset()
    ) -> dict[str, ReadingColumns]:
        """The accepted readings by plant, but those InfluxDB refused, by (plant, meter, ts)."""
        if not refused:
            return self.accepted
        return {plant: columns.without(plant, refused) for plant, columns in self.accepted.items()}


class ReadingProcessor:
    """Validates, enriches from the plant file and costs readings from each plant's tariff."""

    def __init__(self, config: KilowatchConfig, prefix: str = DEFAULT_PREFIX) -> None:
        self._config = config
        self._prefix = prefix
        self._tariffs: dict[str, PlantTariff] = {}
        self._tariff_tags: dict[str, str] = {}
        tariff_cache: dict[str, Tariff] = {}  # plants sharing a tariff file load it once
        for plant in config.plants:
            path = str(plant.tariff)
            tariff = tariff_cache.get(path) or load_tariff(plant.tariff)
            tariff_cache[path] = tariff
            self._tariffs[plant.id] = PlantTariff(tariff, plant.zone)
            self._tariff_tags[plant.id] = escape_tag(tariff.key)
        self._unique = itertools.count()
        self._series: dict[tuple[str, str], _SeriesHeads] = {}
        self._status_prefix = f"/{AGENTS_LEVEL}/"

    @property
    def tariffs(self) -> dict[str, PlantTariff]:
        """Each plant's tariff in its local time, by plant id."""
        return dict(self._tariffs)

    def plant_info_lines(self, now: float) -> list[str]:
        """One `plant_info` point per plant: timezone, currency, the rate now and its next change.

        Rates include the tariff's taxes, like the `rate` of `energy` points.
        """
        lines = []
        for plant in self._config.plants:
            costing = self._tariffs[plant.id]
            tariff = costing.tariff
            with_tax = 1 + tariff.tax_percent / 100
            current = costing.rate_at(int(now))
            fields: dict[str, float | int | str] = {
                "name": plant.name or plant.id,
                "tax_percent": float(tariff.tax_percent),
                "period_now": current.period,
                "rate_now": current.rate_per_kwh * with_tax,
            }
            upcoming = costing.next_change(int(now))
            if upcoming is not None:
                change_ts, rate = upcoming
                fields |= {
                    "next_change_ts": int(change_ts),
                    "next_period": rate.period,
                    "next_rate": rate.rate_per_kwh * with_tax,
                }
            tags = {
                "plant": plant.id,
                "timezone": plant.timezone,
                "currency": tariff.currency,
                "tariff": tariff.key,
            }
            lines.append(format_point(PLANT_INFO, tags, fields, int(now) * NS_PER_S))
        return lines

    def prepare(self, messages: Sequence[Message], now: float) -> Prepared:
        """Parse, validate, cost and format a batch; never raises on bad input."""
        out = Prepared(lines=[[] for _ in messages])
        # Each plant's accepted readings, message by message: (message index, its readings).
        accepted: dict[str, list[tuple[int, list[Reading]]]] = defaultdict(list)
        for index, message in enumerate(messages):
            try:
                if self._status_prefix in message.topic:
                    self._agent_status(message, out.lines[index], out)
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
                out.lines[index].extend(self.rejection_lines(rejections, message.received_at))
                out.rejected += len(rejections)
                out.rejections.extend(rejections)
        for plant, groups in accepted.items():
            out.accepted[plant] = self._cost_and_format(plant, groups, out.lines)
        out.readings = sum(map(len, out.accepted.values()))
        if out.accepted:
            out.newest_ts = max(int(columns.ts.max()) for columns in out.accepted.values())
        return out

    def _agent_status(self, message: Message, lines: list[str], out: Prepared) -> None:
        """An edge agent's health report becomes an `agent_status` point (or a rejection)."""
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
            lines.extend(self.rejection_lines([status], message.received_at))
            out.rejected += 1
            out.rejections.append(status)
        else:
            lines.append(agent_status_line(status))

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

    def _cost_and_format(
        self, plant_id: str, groups: list[tuple[int, list[Reading]]], lines: list[list[str]]
    ) -> ReadingColumns:
        """Cost a plant's readings in one call, add each message's lines, return the columns."""
        readings = [reading for _, group in groups for reading in group]
        count = len(readings)
        ts = np.fromiter(map(_TS, readings), dtype=np.int64, count=count)
        interval = np.fromiter(map(_INTERVAL, readings), dtype=np.int64, count=count)
        energy = np.fromiter(map(_ENERGY, readings), dtype=np.float64, count=count)
        costs = self._tariffs[plant_id].cost_many(ts, interval, energy)
        # Numbers become text column by column (one C call each, not repr() per value); each
        # message then takes its rows from this one iterator. Optional fields go a chunk of
        # readings at a time, so that their columns stay in the CPU's cache.
        rows = zip(
            costs.period.tolist(),
            number_texts(energy.tolist()),
            number_texts(costs.cost.tolist()),
            number_texts(costs.rate.tolist()),
            number_texts(interval.tolist()),
            itertools.chain.from_iterable(
                _optional_fields(readings[start : start + OPTIONAL_CHUNK])
                for start in range(0, count, OPTIONAL_CHUNK)
            ),
            number_texts((ts * NS_PER_S).tolist()),
            strict=True,
        )
        runs = []
        start = 0
        for index, group in groups:
            meter = group[0].meter  # a message holds one meter's readings (from its topic)
            heads = self._heads(plant_id, meter)
            lines[index].extend(
                [
                    f"{heads[period]}energy_kwh={kwh},cost={cost},rate={rate},"
                    f"interval_s={seconds}i{optional} {time_ns}"
                    for period, kwh, cost, rate, seconds, optional, time_ns in itertools.islice(
                        rows, len(group)
                    )
                ]
            )
            runs.append((meter, start, start + len(group)))
            start += len(group)
        kvarh = list(map(_KVARH, readings))
        if kvarh.count(None) == count:
            reactive = np.full(count, np.nan)
        else:
            reactive = np.array([np.nan if k is None else k for k in kvarh], dtype=np.float64)
        return ReadingColumns(runs, ts, interval, energy, reactive)

    def _heads(self, plant_id: str, meter: str) -> _SeriesHeads:
        """The start of a meter's `energy` lines (measurement and tags), by tariff period."""
        heads = self._series.get((plant_id, meter))
        if heads is None:
            if len(self._series) >= MAX_CACHED_SERIES:  # unknown meters may be accepted
                self._series.clear()
            line = self._config.plant_by_id[plant_id].line_of_meter.get(meter, UNASSIGNED_LINE)
            heads = self._series[(plant_id, meter)] = _SeriesHeads(
                f"{ENERGY},line={line},meter={meter},period=",
                f",plant={plant_id},tariff={self._tariff_tags[plant_id]} ",
            )
        return heads

    def rejection_lines(self, rejections: Sequence[Rejection], received_at: float) -> list[str]:
        """Points for `rejected`, each at its own nanosecond so that none overwrites another."""
        base_ns = int(received_at * NS_PER_S)
        lines = []
        for rejection in rejections:
            payload = rejection.payload[:MAX_STORED_PAYLOAD_BYTES].decode(
                "utf-8", errors="backslashreplace"
            )
            lines.append(
                format_point(
                    REJECTED,
                    {
                        "plant": rejection.plant,
                        "meter": rejection.meter,
                        "reason": rejection.reason,
                    },
                    {"count": 1, "detail": rejection.detail, "payload": payload},
                    base_ns + next(self._unique) % 1_000_000,
                )
            )
        return lines


class _SeriesHeads(dict[str, str]):
    """A meter's line heads by tariff period, each formatted the first time it is needed."""

    def __init__(self, before: str, after: str) -> None:
        super().__init__()
        self._before, self._after = before, after  # the text around the period tag's value

    def __missing__(self, period: str) -> str:
        head = self[period] = f"{self._before}{escape_tag(period)}{self._after}"
        return head


def _optional_fields(readings: list[Reading]) -> Iterable[str]:
    """Each reading's optional measurements as `,name=value` text, built column by column."""
    columns = [
        texts
        for name, suffix, getter in _OPTIONAL_NUMBERS
        if (texts := _field_texts(name, suffix, list(map(getter, readings))))
    ]
    for getter, field_name in _OPTIONAL_PHASES:
        phases = list(map(getter, readings))
        if any(phases):
            for k in range(MAX_PHASES):
                values = [p[k] if len(p) > k else None for p in phases]
                if texts := _field_texts(f"{field_name}{k + 1}", "", values):
                    columns.append(texts)
    if not columns:
        return itertools.repeat("", len(readings))
    if len(columns) == 1:
        return columns[0]
    return map("".join, zip(*columns, strict=True))


_OPTIONAL_NUMBERS = [  # (field, suffix, how to get it); seq is an integer field
    (name, "i" if name == "seq" else "", operator.attrgetter(name))
    for name in ("seq", "energy_total_kwh", "power_kw", "reactive_kvarh", "power_factor")
]
_OPTIONAL_PHASES = [
    (operator.attrgetter("voltage_v"), "voltage_l"),
    (operator.attrgetter("current_a"), "current_l"),
]


def _field_texts(name: str, suffix: str, values: Sequence[float | int | None]) -> list[str]:
    """`,name=value` for each reading that has the field, "" for each that has not; [] if none."""
    missing = values.count(None)
    if missing == len(values):
        return []
    prefix = f",{name}="
    if not missing:
        numbers = cast(Sequence[float | int], values)  # no None among them
        return [f"{prefix}{text}{suffix}" for text in number_texts(numbers)]
    texts = iter(number_texts([v for v in values if v is not None]))
    return ["" if v is None else f"{prefix}{next(texts)}{suffix}" for v in values]
