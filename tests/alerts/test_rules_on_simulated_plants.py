"""The money and silence rules on the simulator's plants (the example plant file's fleet, its
meter model, seed 7) with scripted events on top: a press surging in punta, a meter going
quiet, a poor power factor at Hermosillo. Stored as the bridge stores them; each rule is
evaluated where it should fire and where it should not."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from kilowatch.config import load_config
from kilowatch.contract import Reading
from kilowatch.processing import Message
from kilowatch.simulator.fleet import fleet_from_config
from tests.alerts.evaluator import Evaluation, evaluate
from tests.alerts.plantdata import (
    CONFIG,
    INTERVAL_S,
    Pipeline,
    database_with,
    provisioned_rules,
)
from tests.tariff.samples import local

pytestmark = pytest.mark.integration

HMO = "America/Hermosillo"
START = local(HMO, 2026, 10, 12)
NOW = local(HMO, 2026, 10, 20, 20, 5)  # Tuesday, punta, 5 minutes into a window
QUIET = NOW - 86_400
SURGE = 6.0  # press-01 draws six times its load from 20:00
SILENT = "paint-booth"
SILENT_FROM = NOW - 40 * 60
POOR_PF_REACTIVE = 1.2  # kvarh per kWh at Hermosillo: a power factor of 0.64
BUDGETS = {"hmo": 1000.0, "sea": 10_000_000.0}


def scripted(reading: Reading) -> Reading | None:
    """The simulator's reading with the story's events applied."""
    if reading.meter == SILENT and reading.ts > SILENT_FROM:
        return None
    changes: dict[str, Any] = {}
    if reading.plant == "hmo":
        changes["reactive_kvarh"] = reading.energy_kwh * POOR_PF_REACTIVE
        changes["power_factor"] = None
    if reading.meter == "press-01" and reading.ts > NOW - INTERVAL_S:
        changes["energy_kwh"] = reading.energy_kwh * SURGE
        changes["power_kw"] = (reading.power_kw or 0.0) * SURGE
    return msgspec.structs.replace(reading, **changes) if changes else reading


def _story() -> list[str]:
    fleet = fleet_from_config(load_config(CONFIG), seed=7)
    pipeline = Pipeline(BUDGETS)
    lines: list[str] = []
    for lo, hi in itertools.pairwise([START, QUIET, NOW]):
        for meter in fleet:
            count = (hi - lo) // INTERVAL_S
            readings = meter.readings(lo + INTERVAL_S, INTERVAL_S, count)
            for hour in range(0, count, 12):
                kept = [r for r in map(scripted, readings[hour : hour + 12]) if r is not None]
                if kept:
                    topic = f"kilowatch/{meter.plant}/{meter.meter}/readings"
                    payload = json.dumps([r.to_json() for r in kept]).encode()
                    message = Message(topic, payload, kept[-1].ts + 1)
                    lines += pipeline.store([message], message.received_at)
        lines += pipeline.points(hi)
    return lines


@pytest.fixture(scope="module")
def story_db(influxdb: Any) -> Iterator[str]:
    """A database holding the story (written once for the module)."""
    with database_with(influxdb, "t_alert_simulated", _story()) as name:
        yield name


@pytest.fixture
def run(influxdb: Any, story_db: str):
    rules = provisioned_rules()

    def at(uid: str, now: int) -> Evaluation:
        return evaluate(rules[uid], influxdb.url, story_db, now)

    return at


def test_a_surge_that_costs_nothing_sends_no_alert(run) -> None:
    """The simulated plant's load factor is under CFE's 57 % cap, so the cap, not the peak,
    sets the demand billed: a surge to a new peak puts nothing at stake. A critical alert
    telling the plant to shed load for nothing would teach it to ignore the alert; it fires
    only where money is at stake (tests/alerts/test_rule_queries.py) or above the plant's
    own limit."""
    quiet = run("kw-demand-peak-ahead", QUIET)
    assert "hmo" in {dict(labels)["plant"] for labels in quiet.normal}
    surge = run("kw-demand-peak-ahead", NOW)
    over, stake = surge.results["over"], surge.results["stake"]
    assert isinstance(over, dict) and isinstance(stake, dict)
    hmo = {dict(k)["charge"]: v for k, v in over.items() if dict(k)["plant"] == "hmo"}
    assert hmo["Distribucion"] > 0 and hmo["Capacidad"] > 0  # a new peak in kW...
    assert all(v == 0 for labels, v in stake.items() if dict(labels)["plant"] == "hmo")
    assert "hmo" not in {plant for (plant,) in surge.firing_labels("plant")}  # ...costing 0


def test_the_quiet_meter_and_only_it(run) -> None:
    assert not run("kw-meter-silent", QUIET).firing
    assert run("kw-meter-silent", NOW).firing_labels("plant", "meter") == {("hmo", SILENT)}


def test_poor_power_factor_at_hermosillo_only(run) -> None:
    result = run("kw-power-factor-penalty", NOW)
    assert result.firing_labels("plant") == {("hmo",)}
    assert {dict(labels)["plant"] for labels in result.normal} == {"sea"}


def test_over_budget_at_hermosillo_only(run) -> None:
    result = run("kw-bill-over-budget", NOW)
    assert result.firing_labels("plant") == {("hmo",)}
    assert {dict(labels)["plant"] for labels in result.normal} == {"sea"}
