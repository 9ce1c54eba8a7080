"""The bridge's pure core: MQTT messages in, costed line protocol out (no I/O).

Every message becomes its own list of lines, so the shell can acknowledge each message once
exactly its lines are stored, and find which of a message's points InfluxDB refuses.
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections import defaultdict
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from kilowatch.agent.status import (
    AGENTS_LEVEL,
    AgentStatus,
    agent_status_line,
    parse_agent_status,
)
from kilowatch.config import UNASSIGNED_LINE, KilowatchConfig
from kilowatch.contract import DEFAULT_PREFIX, Parsed, Reading, Rejection, parse_message
from kilowatch.influx.lineprotocol import NS_PER_S, escape_tag, format_point
from kilowatch.tariff import PlantTariff, Tariff, load_tariff

logger = logging.getLogger(__name__)

MAX_STORED_PAYLOAD_BYTES = 4096
_TS, _INTERVAL, _ENERGY = (operator.attrgetter(name) for name in ("ts", "interval_s", "energy_kwh"))
ENERGY = "energy"
REJECTED = "rejected"
PLANT_INFO = "plant_info"


class Message(NamedTuple):
    """An MQTT message as the bridge received it (a tuple: the bridge makes thousands a second)."""

    topic: str
    payload: bytes
    received_at: float  # Unix seconds


@dataclass(slots=True)
class Prepared:
    """The lines to write for a batch of messages, one list per message, and what they hold."""

    lines: list[list[str]]
    readings: int = 0
    rejected: int = 0
    newest_ts: int | None = None
    rejections: list[Rejection] = field(default_factory=list)
    accepted: dict[str, list[Reading]] = field(default_factory=dict)  # by plant

    def stored_readings(
        self, refused: Container[tuple[str, str, int]] = frozenset()
    ) -> dict[str, list[Reading]]:
        """The accepted readings by plant, but those InfluxDB refused, by (plant, meter, ts)."""
        if not refused:
            return self.accepted
        return {
            plant: [r for r in readings if (plant, r.meter, r.ts) not in refused]
            for plant, readings in self.accepted.items()
        }


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
        accepted: dict[str, list[tuple[int, Reading]]] = defaultdict(list)
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
            for reading in readings:
                accepted[reading.plant].append((index, reading))
            if rejections:
                out.lines[index].extend(self.rejection_lines(rejections, message.received_at))
                out.rejected += len(rejections)
                out.rejections.extend(rejections)
        for plant, items in accepted.items():
            self._cost_and_format(plant, items, out)
            out.accepted[plant] = [reading for _, reading in items]
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
        self, plant_id: str, items: list[tuple[int, Reading]], out: Prepared
    ) -> None:
        readings = [reading for _, reading in items]
        count = len(readings)
        ts = np.fromiter(map(_TS, readings), dtype=np.int64, count=count)
        costs = self._tariffs[plant_id].cost_many(
            ts,
            np.fromiter(map(_INTERVAL, readings), dtype=np.int64, count=count),
            np.fromiter(map(_ENERGY, readings), dtype=np.float64, count=count),
        )
        line_of_meter = self._config.plant_by_id[plant_id].line_of_meter
        tariff_tag = self._tariff_tags[plant_id]
        series: dict[tuple[str, str], str] = {}
        rates = costs.rate.tolist()
        rate_text = {rate: repr(rate) for rate in set(rates)}  # a few rates: format each once
        lines = out.lines
        for (index, r), cost, rate, period, time_ns in zip(
            items,
            costs.cost.tolist(),
            rates,
            costs.period.tolist(),
            (ts * NS_PER_S).tolist(),
            strict=True,
        ):
            head = series.get((r.meter, period))
            if head is None:
                line = line_of_meter.get(r.meter, UNASSIGNED_LINE)
                head = series[(r.meter, period)] = (
                    f"{ENERGY},line={line},meter={r.meter},period={escape_tag(period)},"
                    f"plant={plant_id},tariff={tariff_tag} "
                )
            lines[index].append(
                f"{head}energy_kwh={r.energy_kwh!r},cost={cost!r},rate={rate_text[rate]},"
                f"interval_s={r.interval_s}i{_optional_fields(r)} {time_ns}"
            )
        out.readings += count
        newest = int(ts.max())
        out.newest_ts = newest if out.newest_ts is None else max(newest, out.newest_ts)

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


def _optional_fields(r: Reading) -> str:
    """The optional measurements a reading carries, as `,name=value` text."""
    text = ""
    if r.seq is not None:
        text += f",seq={r.seq}i"
    if r.energy_total_kwh is not None:
        text += f",energy_total_kwh={r.energy_total_kwh!r}"
    if r.power_kw is not None:
        text += f",power_kw={r.power_kw!r}"
    if r.reactive_kvarh is not None:
        text += f",reactive_kvarh={r.reactive_kvarh!r}"
    if r.power_factor is not None:
        text += f",power_factor={r.power_factor!r}"
    if r.voltage_v:
        text += "".join(map(",voltage_l{}={!r}".format, range(1, 4), r.voltage_v))
    if r.current_a:
        text += "".join(map(",current_l{}={!r}".format, range(1, 4), r.current_a))
    return text
