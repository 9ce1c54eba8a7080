"""Plant data for the alert tests, made as the bridge makes it: MQTT messages through the
processing core (validation, costing) and the schema's line layout, stored readings into the
running bills and the demand watch (the billing core), their points laid out by the schema."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kilowatch.alerts.build import RULES_FILE, render_all
from kilowatch.billing.demand import DemandWatch
from kilowatch.billing.running import RunningBill
from kilowatch.config import load_config
from kilowatch.contract import AgentStatus
from kilowatch.influx.schema import (
    LineLayout,
    billing_line,
    budget_watch_line,
    demand_watch_line,
)
from kilowatch.processing import Message, Processor

CONFIG = Path("config/kilowatch.example.yaml")
INTERVAL_S = 300


@dataclass(frozen=True, slots=True)
class Row:
    """One reading to send: its end, energy, and optional power and reactive energy."""

    ts: int
    energy_kwh: float
    power_kw: float | None = None
    reactive_kvarh: float | None = None
    interval_s: int = INTERVAL_S

    def payload(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "ts": self.ts,
            "energy_kwh": self.energy_kwh,
            "interval_s": self.interval_s,
        }
        if self.power_kw is not None:
            out["power_kw"] = self.power_kw
        if self.reactive_kvarh is not None:
            out["reactive_kvarh"] = self.reactive_kvarh
        return out


def readings_message(plant: str, meter: str, rows: list[Row], received_at: float) -> Message:
    """A readings message (an array) as an agent publishes it."""
    payload = json.dumps([row.payload() for row in rows]).encode()
    return Message(f"kilowatch/{plant}/{meter}/readings", payload, received_at)


def raw_message(plant: str, meter: str, payload: bytes, received_at: float) -> Message:
    return Message(f"kilowatch/{plant}/{meter}/readings", payload, received_at)


def status_message(status: AgentStatus, received_at: float) -> Message:
    topic = f"kilowatch/{status.plant}/_agents/{status.agent}/status"
    return Message(topic, status.encode(), received_at)


class Pipeline:
    """The bridge's path from messages to lines, without MQTT and InfluxDB around it."""

    def __init__(
        self, budgets: dict[str, float] | None = None, limits_kw: dict[str, float] | None = None
    ) -> None:
        self.processor = Processor(load_config(CONFIG))
        self.layout = LineLayout()
        self.watches = {
            plant: DemandWatch(
                RunningBill(tariff, plant),
                budget=(budgets or {}).get(plant),
                limit_kw=(limits_kw or {}).get(plant),
            )
            for plant, tariff in self.processor.tariffs.items()
        }

    def store(self, messages: list[Message], now: float) -> list[str]:
        """Process a batch; its lines, and its accepted readings counted as stored."""
        processed = self.processor.process(messages, now)
        lines = [line for per in self.layout.batch_lines(processed, messages) for line in per]
        for plant, costed in processed.costed.items():
            watch, columns = self.watches[plant], costed.columns
            for meter, start, stop in columns.runs:
                rows = slice(start, stop)
                power = np.array(
                    [np.nan if r.power_kw is None else r.power_kw for r in costed.readings[rows]]
                )
                watch.running.add_many(
                    meter,
                    columns.ts[rows],
                    columns.interval_s[rows],
                    columns.energy_kwh[rows],
                    columns.reactive_kvarh[rows],
                )
                watch.observe(
                    meter,
                    columns.ts[rows],
                    columns.interval_s[rows],
                    columns.energy_kwh[rows],
                    power,
                )
        return lines

    def points(self, now: int) -> list[str]:
        """The `billing`, `demand_watch` and `budget_watch` points at `now`."""
        lines = []
        for watch in self.watches.values():
            lines += [billing_line(p) for p in watch.running.points(now)]
            demand, bill = watch.project(now)
            lines += [demand_watch_line(p) for p in demand]
            lines.append(budget_watch_line(bill))
        return lines


def hourly_messages(
    plant: str,
    meter: str,
    start: int,
    end: int,
    row: Callable[[int], Row | None],
) -> Iterable[Message]:
    """Readings ending in (start, end], one message per hour (as an agent sends a backlog)."""
    for hour in range(start, end, 3600):
        rows = [
            r
            for ts in range(hour + INTERVAL_S, min(hour + 3600, end) + 1, INTERVAL_S)
            if (r := row(ts)) is not None
        ]
        if rows:
            yield readings_message(plant, meter, rows, rows[-1].ts + 1)


def agent_status(plant: str, agent: str, ts: int, backlog: int) -> AgentStatus:
    """An edge agent's health report with `backlog` readings waiting."""
    return AgentStatus(
        plant=plant,
        agent=agent,
        ts=ts,
        backlog_readings=backlog,
        oldest_pending_ts=ts - 600 if backlog else None,
        inflight_readings=0,
        last_publish_ts=ts,
        last_poll_ts=ts,
        poll_errors=0,
        meters=2,
        failing_meters=(),
        disk_used_bytes=1000,
        disk_cap_bytes=None,
        storage_full=False,
        readings_dropped=0,
        polls_skipped=0,
        uptime_s=3600.0,
    )


def provisioned_rules() -> dict[str, dict[str, Any]]:
    """Every alert rule as provisioned (rules.yaml from alerts/), by uid."""
    document = yaml.safe_load(render_all("alerts")[RULES_FILE])
    return {rule["uid"]: rule for group in document["groups"] for rule in group["rules"]}


@contextmanager
def database_with(influxdb: Any, name: str, lines: list[str]) -> Iterator[str]:
    """A fresh database `name` holding the lines (written once), dropped afterwards."""
    influxdb.drop_database(name)
    influxdb.create_database(name)
    try:
        for start in range(0, len(lines), 5000):
            influxdb.write(name, lines[start : start + 5000], precision="ns")
        yield name
    finally:
        influxdb.drop_database(name)
