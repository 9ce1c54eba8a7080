"""Every alert rule's queries on real InfluxDB 1.x, and its expressions evaluated on the results.

One story, stored as the bridge stores it (messages through the processing core, points from
the running bills and the demand watch): two plants in October 2026; Hermosillo (hmo) runs a
poor power factor, goes over its budget, has a press go quiet, a machine left on at night, an
agent gone silent, rejected messages, and at 20:05 on the 20th a press surges towards a new
peak in punta. Seattle (sea) runs normally. Each rule is evaluated at moments where it should
fire and where it should not, and the firing instances are checked label by label.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.alerts.evaluator import Evaluation, evaluate, firing_after_for
from tests.alerts.plantdata import (
    INTERVAL_S,
    Pipeline,
    Row,
    agent_status,
    database_with,
    hourly_messages,
    provisioned_rules,
    raw_message,
    readings_message,
    status_message,
)
from tests.tariff.samples import local

pytestmark = pytest.mark.integration

HMO, SEA = "America/Hermosillo", "America/Los_Angeles"
START = local(HMO, 2026, 10, 1)
NOW = local(HMO, 2026, 10, 20, 20, 5)  # a Tuesday, in punta: 5 minutes into a window
WINDOW_END = NOW + 600
QUIET = NOW - 86_400  # the same moment a day earlier: nothing unusual
NIGHT_OK = local(HMO, 2026, 10, 19, 2, 0)
NIGHT_WASTE = local(HMO, 2026, 10, 20, 2, 0)  # the paint oven left on since midnight
SILENT_FROM = NOW - 40 * 60  # press-02's last reading
SURGE_KW = 400.0
# A night load high enough that CFE's load-factor cap does not hide a new peak's cost.
DAY_KW, NIGHT_KW = 100.0, 60.0
BUDGETS = {"hmo": 10_000.0, "sea": 10_000_000.0}


def _load_kw(zone: str, ts: int) -> float:
    """Weekdays 06:00-22:00 local: the day load; otherwise the night (base) load."""
    moment = datetime.fromtimestamp(ts - INTERVAL_S, ZoneInfo(zone))
    return DAY_KW if moment.weekday() < 5 and 6 <= moment.hour < 22 else NIGHT_KW


def _row(zone: str, pf: float, ts: int, kw: float | None = None) -> Row:
    kw = _load_kw(zone, ts) if kw is None else kw
    kwh = kw * INTERVAL_S / 3600
    kvarh = kwh * ((1 / pf**2) - 1) ** 0.5
    return Row(ts, kwh, power_kw=kw, reactive_kvarh=round(kvarh, 6))


def _hmo_press_01(ts: int) -> Row:
    if ts > NOW - INTERVAL_S:  # the surge, from 20:00
        return _row(HMO, 0.8, ts, SURGE_KW)
    return _row(HMO, 0.8, ts)


def _hmo_press_02(ts: int) -> Row | None:
    return _row(HMO, 0.8, ts) if ts <= SILENT_FROM else None


def _hmo_paint_oven(ts: int) -> Row:
    if NIGHT_WASTE - 2 * 3600 < ts <= NIGHT_WASTE:
        return _row(HMO, 0.8, ts, DAY_KW)
    return _row(HMO, 0.8, ts)


def _sea(ts: int) -> Row:
    return _row(SEA, 0.98, ts)


SOURCES = [
    ("hmo", "press-01", _hmo_press_01),
    ("hmo", "press-02", _hmo_press_02),
    ("hmo", "paint-oven", _hmo_paint_oven),
    ("sea", "assembly-01", _sea),
    ("sea", "lighting", _sea),
]
CHECKPOINTS = sorted({QUIET, NOW, WINDOW_END, NIGHT_OK, NIGHT_WASTE})


def _story() -> list[str]:
    """Every line the bridge would have written, up to WINDOW_END."""
    pipeline = Pipeline(BUDGETS)
    lines: list[str] = []
    edges = [START, *CHECKPOINTS]
    for lo, hi in itertools.pairwise(edges):
        for plant, meter, row in SOURCES:
            for message in hourly_messages(plant, meter, lo, hi, row):
                lines += pipeline.store([message], message.received_at)
        lines += pipeline.points(hi)
    statuses = []
    for ts in range(NOW - 3 * 3600, NOW + 1, 60):
        if ts <= NOW - 20 * 60:  # edge-1 stops reporting 20 minutes before NOW
            statuses.append(agent_status("hmo", "edge-1", ts, 0))
        statuses.append(agent_status("hmo", "edge-3", ts, 0))  # healthy
        # edge-2's backlog grows from an hour before NOW (the broker unreachable)
        statuses.append(agent_status("sea", "edge-2", ts, max(0, ts - (NOW - 3600)) // 6))
    lines += pipeline.store([status_message(s, s.ts + 1) for s in statuses], NOW)
    bad = b'{"ts": "yesterday", "energy_kwh": 1}'
    rejected = [raw_message("hmo", "press-01", bad, NOW - 30 * k) for k in range(15)]
    rejected += [raw_message("sea", "lighting", bad, NOW - 100 * k) for k in range(2)]
    lines += pipeline.store(rejected, NOW)
    return lines


@pytest.fixture(scope="module")
def story_db(influxdb: Any) -> Iterator[str]:
    """A database holding the story (written once for the module)."""
    with database_with(influxdb, "t_alert_story", _story()) as name:
        yield name


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    return provisioned_rules()


@pytest.fixture
def run(influxdb: Any, story_db: str, rules: dict[str, dict[str, Any]]):
    def at(uid: str, now: int) -> Evaluation:
        return evaluate(rules[uid], influxdb.url, story_db, now)

    return at


def test_demand_peak_ahead_fires_while_the_window_is_open(run) -> None:
    quiet = run("kw-demand-peak-ahead", QUIET)
    assert not quiet.firing
    assert {dict(labels)["plant"] for labels in quiet.normal} == {"hmo", "sea"}
    surge = run("kw-demand-peak-ahead", NOW)
    assert surge.firing_labels("plant", "charge", "currency") == {
        ("hmo", "Distribucion", "MXN"),
        ("hmo", "Capacidad", "MXN"),
    }
    stake = surge.results["stake"]
    assert isinstance(stake, dict) and all(
        v > 0 for labels, v in stake.items() if dict(labels)["plant"] == "hmo"
    )
    # At the window's end it is closed: nothing can be done, nothing fires.
    closed = run("kw-demand-peak-ahead", WINDOW_END)
    assert not closed.firing and closed.normal


def test_demand_above_the_plants_own_limit_fires_though_under_the_peak(
    influxdb: Any, influx_db_name: str, rules: dict[str, dict[str, Any]]
) -> None:
    """A plant's `demand_limit_kw` (a contract, a transformer) warns below the billed peak,
    where nothing is at stake; a plant without a limit (no `limit_kw` field) stays quiet."""
    day = local(HMO, 2026, 10, 5)  # a Monday
    now = day + 11 * 3600 + 300  # 11:05: a window 5 minutes in, the day's steady load
    pipeline = Pipeline(limits_kw={"hmo": 150.0})
    lines: list[str] = []
    for plant, meter, zone in (("hmo", "press-01", HMO), ("sea", "assembly-01", SEA)):
        rows = lambda ts, zone=zone: _row(zone, 0.95, ts, 200.0)  # noqa: E731
        for message in hourly_messages(plant, meter, day - 3 * 86_400, now, rows):
            lines += pipeline.store([message], message.received_at)
    lines += pipeline.points(now)
    influxdb.write(influx_db_name, lines, precision="ns")
    result = evaluate(rules["kw-demand-peak-ahead"], influxdb.url, influx_db_name, now)
    assert result.firing_labels("plant") == {("hmo",)}
    assert {dict(labels)["plant"] for labels in result.normal} == {"sea"}
    stake = result.results["stake"]
    assert isinstance(stake, dict) and set(stake.values()) == {0.0}


def test_bill_over_budget(run) -> None:
    result = run("kw-bill-over-budget", NOW)
    assert result.firing_labels("plant", "currency") == {("hmo", "MXN")}
    assert {dict(labels)["plant"] for labels in result.normal} == {"sea"}


def test_meter_silent(run) -> None:
    result = run("kw-meter-silent", NOW)
    assert result.firing_labels("plant", "line", "meter") == {("hmo", "press", "press-02")}
    assert len(result.normal) == 4
    before = run("kw-meter-silent", SILENT_FROM + 10 * 60)  # quiet for only 10 minutes
    assert not before.firing and len(before.normal) == 5


def test_a_quarter_hour_meter_is_not_silent_between_its_readings(
    influxdb: Any, influx_db_name: str, rules: dict[str, dict[str, Any]]
) -> None:
    """Utility-grade meters (CFE's) send a reading every 15 minutes, a few minutes late: the
    rule, evaluated every minute, must not fire between two readings, only on a real gap."""
    rule, day = rules["kw-meter-silent"], local(HMO, 2026, 10, 20)
    stops = day + 10 * 3600  # the meter's last reading ends at 10:00
    pipeline, lines = Pipeline(), []
    for ts in range(day + 900, stops + 1, 900):
        row = Row(ts, 25.0, interval_s=900)
        lines += pipeline.store([readings_message("hmo", "main", [row], ts + 240)], ts + 240)
    influxdb.write(influx_db_name, lines, precision="ns")
    # Until the 10:15 reading arrives, 4 minutes late at 10:19, the 10:00 one is the newest.
    for now in range(stops, stops + 19 * 60 + 1, 60):
        assert not firing_after_for(rule, influxdb.url, influx_db_name, now, 60), now - stops
    # It never comes: at 10:30 the meter has been silent for two of its intervals.
    gone = firing_after_for(rule, influxdb.url, influx_db_name, stops + 30 * 60, 60)
    assert {dict(labels)["meter"] for labels in gone} == {"main"}


def test_agent_silent(run) -> None:
    result = run("kw-agent-silent", NOW)
    assert result.firing_labels("plant", "agent") == {("hmo", "edge-1")}
    assert not run("kw-agent-silent", NOW - 30 * 60).firing


def test_agent_backlog_growing(run) -> None:
    result = run("kw-agent-backlog-growing", NOW)
    assert result.firing_labels("plant", "agent") == {("sea", "edge-2")}
    assert not run("kw-agent-backlog-growing", NOW - 3600).firing


def test_power_factor_penalty(run) -> None:
    result = run("kw-power-factor-penalty", NOW)
    assert result.firing_labels("plant", "billing_period") == {("hmo", "2026-10")}
    pf = result.results["pf"]
    assert isinstance(pf, dict)
    assert {dict(k)["plant"]: round(v, 2) for k, v in pf.items()} == {"hmo": 0.8, "sea": 0.98}


def test_rejected_readings(run) -> None:
    result = run("kw-rejected-readings", NOW)
    assert result.firing_labels("plant") == {("hmo",)}
    assert {dict(labels)["plant"] for labels in result.normal} == {"sea"}


def test_idle_load_outside_shifts(run) -> None:
    assert not run("kw-idle-load", NIGHT_OK).firing
    waste = run("kw-idle-load", NIGHT_WASTE)
    assert waste.firing_labels("plant") == {("hmo",)}
    base = waste.results["base"]
    assert isinstance(base, dict)
    # hmo: three meters at the night load; sea: two.
    assert {dict(k)["plant"]: v for k, v in base.items()} == pytest.approx(
        {"hmo": 3 * NIGHT_KW, "sea": 2 * NIGHT_KW}
    )


def test_every_rule_is_proven_here(rules: dict[str, dict[str, Any]]) -> None:
    tested = {
        "kw-demand-peak-ahead",
        "kw-bill-over-budget",
        "kw-meter-silent",
        "kw-agent-silent",
        "kw-agent-backlog-growing",
        "kw-power-factor-penalty",
        "kw-rejected-readings",
        "kw-idle-load",
    }
    assert set(rules) == tested, json.dumps(sorted(rules))
