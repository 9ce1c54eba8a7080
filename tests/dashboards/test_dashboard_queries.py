"""Every query of every dashboard, run as Grafana runs it, on real data in a real InfluxDB 1.x.

The simulator publishes 35 days of the example plants through a real Mosquitto to the real
bridge, which costs and stores them; a few bad messages add rejections. Then each dashboard's
variables are resolved from InfluxDB, each panel's time range from its relative time and shift,
and each query is interpolated (macros, variables) and executed: it must be valid InfluxQL and
return rows wherever its measurement holds points in its range. The key numbers (energy and cost
today, energy and cost by period, cost per line and meter, the load heat map, the demand peak)
are checked against the stored readings, summed here in Python.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kilowatch.config import load_config
from kilowatch.contract import AgentStatus, readings_topic, status_topic
from kilowatch.dashboards.build import DEFAULT_OUT_DIR
from kilowatch.tariff import load_tariff
from tests.support.grafana.macros import ALL, Variable, interpolate, interval_ms
from tests.support.grafana.queries import PanelQuery, panel_queries, variable_queries
from tests.support.grafana.timerange import TimeRange, resolve
from tests.support.services import (
    REPO_ROOT,
    BackgroundProcess,
    InfluxDB1,
    Mosquitto,
    kilowatch_argv,
    publish_lines,
)

pytestmark = pytest.mark.integration

PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
PLANTS = load_config(PLANT_FILE).plants
QUIETEST_HOURS = 3  # the base-load panel's mean of each day's quietest hours
METERS = sum(len(plant.meters) for plant in PLANTS)
BACKFILL_DAYS = 35  # reaches into last month whatever today is: every panel's range has data
INTERVAL_S = 300
READINGS_PER_METER = BACKFILL_DAYS * 86400 // INTERVAL_S
BAD_MESSAGES = ["not json", '{"energy_kwh": 1}', '{"ts": 1, "energy_kwh": -5}']
FILL_TIMEOUT_S = 240
DASHBOARDS = {
    d["uid"]: d
    for d in (
        json.loads(p.read_text()) for p in sorted((REPO_ROOT / DEFAULT_OUT_DIR).glob("*.json"))
    )
}
QUERIES = [q for d in DASHBOARDS.values() for q in panel_queries(d)]
MEASUREMENT = re.compile(r'FROM "(\w+)"')
FIELD = re.compile(r'\w+\("(\w+)"\)')  # the field an aggregate reads: last("tier")
REL = 1e-9  # sums of the same floats in another order


@dataclass
class Stack:
    influx: InfluxDB1
    db: str

    def query(self, influxql: str) -> list[dict[str, Any]]:
        return self.influx.query(influxql, db=self.db, epoch="ms")

    def count(
        self, measurement: str, time_range: TimeRange | None = None, field: str | None = None
    ) -> int:
        """Points of a measurement (of one field, when given) in the time range."""
        where = (
            f" WHERE time >= {time_range.start_ms}ms AND time <= {time_range.end_ms}ms"
            if time_range
            else ""
        )
        counted = f'"{field}"' if field else "*"
        rows = self.query(f'SELECT count({counted}) FROM "{measurement}"{where}')
        return max((v for row in rows for k, v in row.items() if k.startswith("count")), default=0)


def wait_until(
    describe: str,
    probe: Any,
    timeout_s: float = FILL_TIMEOUT_S,
    explain: Any = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, f"{describe} within {timeout_s} s; {explain()}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(influxdb: InfluxDB1, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """InfluxDB filled by simulator -> Mosquitto -> bridge; the bridge keeps running meanwhile."""
    workdir: Path = tmp_path_factory.mktemp("dashboard-queries")
    filled = Stack(influxdb, f"dashboards_{uuid.uuid4().hex[:8]}")
    influxdb.create_database(filled.db)
    with Mosquitto(workdir=workdir / "mosquitto") as broker:
        bridge_env = {
            "KILOWATCH_CONFIG": str(PLANT_FILE),
            "KILOWATCH_MQTT_URL": broker.url,
            "KILOWATCH_MQTT_CLIENT_ID": "dashboards-bridge",
            "KILOWATCH_INFLUX_URL": influxdb.url,
            "KILOWATCH_INFLUX_BUCKET": filled.db,
            "KILOWATCH_HEALTH_INTERVAL_S": "1",
        }
        bridge = BackgroundProcess(
            kilowatch_argv("bridge"), env=bridge_env, log_path=workdir / "bridge.log"
        )
        with bridge:
            broker.wait_for_subscription("dashboards-bridge", "kilowatch/+/+/readings")
            simulator_env = {
                "KILOWATCH_CONFIG": str(PLANT_FILE),
                "KILOWATCH_MQTT_URL": broker.url,
                "KILOWATCH_MQTT_CLIENT_ID": "dashboards-simulator",
                "KILOWATCH_BACKFILL": f"{BACKFILL_DAYS}d",
                "KILOWATCH_INTERVAL_S": str(INTERVAL_S),
                "KILOWATCH_COUNT": str(READINGS_PER_METER),
            }
            simulator = BackgroundProcess(
                kilowatch_argv("simulate"), env=simulator_env, log_path=workdir / "simulator.log"
            )
            with simulator:
                assert simulator.wait(FILL_TIMEOUT_S) == 0, simulator.log_tail()
            publish_bad_messages_and_a_status(broker)
            wait_until(
                "every simulated reading stored",
                lambda: filled.count("energy") >= METERS * READINGS_PER_METER,
                explain=lambda: (
                    f"InfluxDB counts {filled.count('energy')} of {METERS * READINGS_PER_METER} "
                    "energy points; the bridge reports storing "
                    f"{filled.query('SELECT sum(readings_written) FROM kilowatch_bridge')}:\n"
                    f"{bridge.log_tail()}"
                ),
            )
            wait_until("the bad messages set aside", lambda: filled.count("rejected") >= 3)
            yield filled
    influxdb.drop_database(filled.db)


def publish_bad_messages_and_a_status(broker: Mosquitto) -> None:
    plant = PLANTS[0]
    publish_lines(broker, readings_topic(plant.id, plant.meters[0].id), BAD_MESSAGES)
    now = int(time.time())
    status = AgentStatus(
        plant=plant.id,
        agent="edge-1",
        ts=now,
        backlog_readings=12,
        oldest_pending_ts=now - 600,
        inflight_readings=0,
        last_publish_ts=now - 5,
        last_poll_ts=now,
        poll_errors=0,
        meters=2,
        failing_meters=(),
        disk_used_bytes=4096,
        disk_cap_bytes=None,
        storage_full=False,
        readings_dropped=0,
        polls_skipped=0,
        uptime_s=3600.0,
    )
    publish_lines(broker, status_topic(plant.id, "edge-1"), [status.encode().decode()])


# Grafana's side: variables and time ranges.


def resolve_variables(
    stack: Stack, dashboard: Mapping[str, Any], plant: str
) -> dict[str, Variable]:
    """Each variable as Grafana sets it on opening: plant chosen, "All" where allowed."""
    found: dict[str, Variable] = {}
    queries = {v.name: v.query for v in variable_queries(dashboard)}
    for spec in dashboard["templating"]["list"]:
        name = spec["name"]
        text = interpolate(queries[name], time_range=TimeRange(0, 1), interval=1, variables=found)
        options = tuple(row["value"] for row in stack.query(text))
        if spec.get("includeAll"):
            selected: tuple[str, ...] = (ALL,)
        elif name == "plant":
            assert plant in options
            selected = (plant,)
        else:
            selected = options[:1]
        found[name] = Variable(
            name,
            selected,
            bool(spec.get("multi")),
            bool(spec.get("includeAll")),
            spec.get("allValue"),
            options,
        )
    return found


def time_zone(variables: Mapping[str, Variable]) -> ZoneInfo:
    """The zone queries group days in: the `tz` variable, or UTC as InfluxDB reads tz('')."""
    chosen = variables.get("tz")
    return ZoneInfo(chosen.selected[0] if chosen and chosen.selected else "UTC")


@dataclass(frozen=True)
class Run:
    query: str
    time_range: TimeRange
    rows: list[dict[str, Any]]


def run(stack: Stack, query: PanelQuery, plant: str, now: datetime | None = None) -> Run:
    dashboard = DASHBOARDS[query.dashboard]
    variables = resolve_variables(stack, dashboard, plant)
    time_range = resolve(
        dashboard["time"]["from"],
        dashboard["time"]["to"],
        now or datetime.now(UTC),
        time_zone(variables),
        time_from=query.time_from,
        time_shift=query.time_shift,
    )
    text = interpolate(
        query.query,
        time_range=time_range,
        interval=interval_ms(time_range, query.max_data_points, query.min_interval),
        variables=variables,
    )
    return Run(text, time_range, stack.query(text))


def find(dashboard: str, panel: str, ref_id: str = "A") -> PanelQuery:
    return next(
        q for q in QUERIES if q.dashboard == dashboard and q.panel == panel and q.ref_id == ref_id
    )


# Every query.


def test_the_stack_holds_every_reading_and_the_rejections(stack: Stack) -> None:
    assert stack.count("energy") == METERS * READINGS_PER_METER
    assert stack.count("rejected") == len(BAD_MESSAGES)


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
def test_variables_resolve_from_the_data(stack: Stack, plant: str) -> None:
    config = next(p for p in PLANTS if p.id == plant)
    variables = resolve_variables(stack, DASHBOARDS["kw-drilldown"], plant)
    assert set(variables["line"].options) == {line.id for line in config.lines}
    assert set(variables["meter"].options) == {meter.id for meter in config.meters}
    # From the bridge's plant_info point: "today" follows the plant's zone, money its currency.
    assert variables["tz"].selected == (config.timezone,)
    assert variables["currency"].selected == (load_tariff(config.tariff).currency,)


@pytest.mark.parametrize("query", QUERIES, ids=[q.where for q in QUERIES])
def test_query_runs_and_returns_data_where_data_exists(stack: Stack, query: PanelQuery) -> None:
    """For the first plant (the key numbers below cover every plant)."""
    done = run(stack, query, PLANTS[0].id)  # InfluxDB refusing it raises, naming the query
    measurement = MEASUREMENT.findall(query.query)[-1]
    fields = FIELD.findall(query.query)
    # A field only some tariffs have (a tier) has no data for the others.
    if stack.count(measurement, done.time_range, fields[0] if fields else None):
        assert done.rows, f"no rows, though {measurement} has points in range:\n{done.query}"


# Key numbers against the stored readings.


def readings(stack: Stack, plant: str, time_range: TimeRange) -> list[dict[str, Any]]:
    return stack.query(
        f"""SELECT "energy_kwh", "cost", "period", "line", "meter" FROM "energy"
        WHERE "plant" = '{plant}' AND time >= {time_range.start_ms}ms
        AND time <= {time_range.end_ms}ms"""
    )


def local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone)


def sums(rows: list[dict[str, Any]], key: str, field: str) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for row in rows:
        total[row[key]] += row[field]
    return dict(total)


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
def test_energy_and_cost_today_follow_the_plant_calendar(stack: Stack, plant: str) -> None:
    zone = time_zone(resolve_variables(stack, DASHBOARDS["kw-overview"], plant))
    now = datetime.now(UTC)
    for panel, field in (("Energy today", "energy_kwh"), ("Cost today ($currency)", "cost")):
        done = run(stack, find("kw-overview", panel), plant, now)
        shown = done.rows[-1]["sum"]  # the stat shows the last day: today
        today = now.astimezone(zone).date()
        expected = sum(
            r[field]
            for r in readings(stack, plant, done.time_range)
            if local(r["time"], zone).date() == today
        )
        assert expected > 0
        assert shown == pytest.approx(expected, rel=REL)


def test_today_follows_the_plant_timezone(influxdb: InfluxDB1, influx_db_name: str) -> None:
    """With the plant's zone in its `plant_info` point, "today" starts at the plant's midnight."""
    zone, now = ZoneInfo("America/Hermosillo"), int(time.time())  # UTC-7 all year
    tags = "plant=tzcheck,line=l,meter=m,period=base,tariff=t@1"
    times = range(now - now % INTERVAL_S - 3 * 86400, now, INTERVAL_S)
    influxdb.write(influx_db_name, [f"energy,{tags} energy_kwh=1,cost=2 {ts}" for ts in times])
    info = "plant_info,plant=tzcheck,timezone=America/Hermosillo,currency=MXN,tariff=t@1"
    influxdb.write(influx_db_name, [f'{info} name="tz check" {now}'])
    separate = Stack(influxdb, influx_db_name)
    assert time_zone(resolve_variables(separate, DASHBOARDS["kw-overview"], "tzcheck")) == zone
    shown = run(separate, find("kw-overview", "Energy today"), "tzcheck").rows[-1]["sum"]
    today = datetime.fromtimestamp(now, zone).date()
    assert shown == sum(1 for ts in times if datetime.fromtimestamp(ts, zone).date() == today)
    utc_today = datetime.fromtimestamp(now, UTC).date()
    assert shown != sum(1 for ts in times if datetime.fromtimestamp(ts, UTC).date() == utc_today)


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
def test_energy_and_cost_by_period(stack: Stack, plant: str) -> None:
    done = run(stack, find("kw-tariff", "Energy and cost by period"), plant)
    stored = readings(stack, plant, done.time_range)
    energy, cost = sums(stored, "period", "energy_kwh"), sums(stored, "period", "cost")
    assert {r["period"] for r in done.rows} == set(energy)
    for row in done.rows:
        assert row["energy"] == pytest.approx(energy[row["period"]], rel=REL)
        assert row["cost"] == pytest.approx(cost[row["period"]], rel=REL)
        assert row["price"] == pytest.approx(cost[row["period"]] / energy[row["period"]], rel=REL)
    donut = run(stack, find("kw-tariff", "Energy by period"), plant)
    assert {r["period"]: r["sum"] for r in donut.rows} == pytest.approx(energy, rel=REL)


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
def test_cost_per_line_and_per_meter(stack: Stack, plant: str) -> None:
    per_line = run(stack, find("kw-overview", "Cost per line ($currency)"), plant)
    stored = readings(stack, plant, per_line.time_range)
    assert {r["line"]: r["cost"] for r in per_line.rows} == pytest.approx(
        sums(stored, "line", "cost"), rel=REL
    )
    per_meter = run(stack, find("kw-overview", "Top 10 meters by cost ($currency)"), plant)
    assert {r["meter"]: r["cost"] for r in per_meter.rows} == pytest.approx(
        sums(stored, "meter", "cost"), rel=REL
    )


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
def test_load_heat_map_cells_are_the_energy_of_each_local_hour(stack: Stack, plant: str) -> None:
    zone = time_zone(resolve_variables(stack, DASHBOARDS["kw-drilldown"], plant))
    now = datetime.now(UTC)
    cells: dict[tuple[object, int], float] = {}
    checked = 0
    for hour in (0, 7, 13, 23):
        done = run(
            stack,
            find(
                "kw-drilldown",
                "Load by hour of day (kWh in the hour = average kW)",
                chr(ord("A") + hour),
            ),
            plant,
            now,
        )
        if not cells:
            for r in readings(stack, plant, done.time_range):
                moment = local(r["time"], zone)
                key = (moment.date(), moment.hour)
                cells[key] = cells.get(key, 0.0) + r["energy_kwh"]
        start = local(done.time_range.start_ms, zone)
        for row in done.rows:
            day = local(row["time"], zone)
            assert (day.hour, day.minute) == (0, 0), "cells are stamped at local midnight"
            inside = datetime.combine(day.date(), datetime.min.time(), zone) + timedelta(hours=hour)
            if inside >= start and inside + timedelta(hours=1) <= now:  # whole hour in range
                assert row["first"] == pytest.approx(cells.get((day.date(), hour), 0.0), rel=REL)
                checked += 1
    assert checked >= 4 * 6  # four hours of at least six whole days


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
def test_demand_peak_is_the_highest_quarter_hour(stack: Stack, plant: str) -> None:
    done = run(stack, find("kw-overview", "Demand peak this month"), plant)
    quarters: dict[int, float] = defaultdict(float)
    for r in readings(stack, plant, done.time_range):
        quarters[r["time"] // 900_000] += r["energy_kwh"]
    assert max(r["sum"] for r in done.rows) == pytest.approx(max(quarters.values()) * 4, rel=REL)
    assert not any(math.isnan(r["sum"]) for r in done.rows)


@pytest.mark.parametrize("plant", [p.id for p in PLANTS])
@pytest.mark.parametrize("evening_hour", [20, 23])
def test_base_load_is_each_day_s_quietest_hours_even_when_the_first_day_is_short(
    stack: Stack, plant: str, evening_hour: int
) -> None:
    """Late in the evening a 7-day range's first day holds a few hours: every day still shows."""
    zone = time_zone(resolve_variables(stack, DASHBOARDS["kw-drilldown"], plant))
    today = datetime.now(zone).date() - timedelta(days=1)  # a whole evening of data
    now = datetime.combine(today, datetime.min.time(), zone) + timedelta(hours=evening_hour)
    done = run(stack, find("kw-drilldown", "Idle (base) load outside shifts", "A"), plant, now)
    hourly: dict[datetime, float] = defaultdict(float)
    for r in readings(stack, plant, done.time_range):
        moment = local(r["time"], zone)
        hourly[moment.replace(minute=0, second=0, microsecond=0)] += r["energy_kwh"]
    by_day: dict[date, list[float]] = defaultdict(list)
    for hour, kwh in hourly.items():
        by_day[hour.date()].append(kwh)
    expected = {
        day: statistics.mean(sorted(hours)[:QUIETEST_HOURS]) for day, hours in by_day.items()
    }
    shown = {local(row["time"], zone).date(): row["mean"] for row in done.rows}
    assert len(by_day[min(by_day)]) < 5  # the short first day that broke percentile()
    assert shown == pytest.approx(expected, rel=REL)
