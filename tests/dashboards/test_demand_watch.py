"""The demand-watch dashboard: its gauge marks the peak from the data, its alert list follows the
plant, and every panel query answers from demand_watch / budget_watch points on InfluxDB 1.x."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kilowatch.billing.demand import DemandWatch
from kilowatch.billing.running import RunningBill
from kilowatch.dashboards.build import DEFAULT_OUT_DIR
from kilowatch.influx.schema import budget_watch_line, demand_watch_line
from tests.billing.samples import FLAT, plant
from tests.support.grafana.macros import Variable, interpolate
from tests.support.grafana.queries import iter_panels, panel_queries
from tests.support.grafana.timerange import TimeRange
from tests.tariff.samples import local

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((REPO_ROOT / DEFAULT_OUT_DIR / "demand_watch.json").read_text())


def panel(panel_type: str) -> dict[str, Any]:
    return next(p for p in iter_panels(DASHBOARD) if p["type"] == panel_type)


def test_the_gauge_repeats_per_charge_and_takes_its_peak_mark_from_the_data() -> None:
    gauge = panel("gauge")
    assert gauge["repeat"] == "charge"
    refs = {t["refId"]: t["alias"] for t in gauge["targets"]}
    mapped = {
        t["options"]["configRefId"]: t["options"]["mappings"][0] for t in gauge["transformations"]
    }
    assert mapped["B"] == {"fieldName": refs["B"], "handlerKey": "threshold1"}
    assert mapped["C"]["handlerKey"] == "max"
    assert gauge["options"]["showThresholdMarkers"] is True


def test_the_alert_list_shows_the_plants_firing_and_pending_alerts() -> None:
    options = panel("alertlist")["options"]
    assert options["alertInstanceLabelFilter"] == '{plant="$plant"}'
    assert options["stateFilter"]["firing"] and options["stateFilter"]["pending"]


@pytest.mark.integration
def test_every_query_answers_from_the_watch_points(influxdb: Any, influx_db_name: str) -> None:
    tariff = plant(FLAT, "UTC", demand={"charges": [{"name": "demand", "per_kw": 10}]})
    watch = DemandWatch(RunningBill(tariff, "hmo"), budget=500.0)
    start, now = local("UTC", 2026, 10, 1), local("UTC", 2026, 10, 2, 10, 5)
    ts = np.arange(start + 300, now + 1, 300)
    watch.running.add_many("m1", ts, np.full(len(ts), 300), np.full(len(ts), 5.0))
    watch.observe("m1", ts, np.full(len(ts), 300), np.full(len(ts), 5.0), np.full(len(ts), 90.0))
    [projection] = watch.demand(int(now))
    lines = [demand_watch_line(projection), budget_watch_line(watch.bill(int(now)))]
    influxdb.write(influx_db_name, lines, precision="ns")
    variables = [
        Variable("plant", ("hmo",)),
        Variable("charge", ("demand",), multi=True),
        Variable("currency", ("USD",)),
        Variable("tz", ("UTC",)),
    ]
    answers = {}
    for query in panel_queries(DASHBOARD):
        window = TimeRange((now - 3600) * 1000, (now + 60) * 1000)
        text = interpolate(query.query, time_range=window, interval=60_000, variables=variables)
        rows = influxdb.query(text, influx_db_name)
        assert rows, query.where
        answers[query.where] = rows[-1]
    gauge = {k.rsplit(" / ", 1)[1]: v for k, v in answers.items() if "projected window" in k}
    assert gauge["A"]["last"] == pytest.approx(projection.projected_kw)
    assert gauge["B"]["last"] == pytest.approx(projection.threshold_kw)
