"""The energy-performance dashboard's queries, run as Grafana runs them, on points that
`kilowatch etl` wrote to a real InfluxDB 1.x over readings stored as the bridge stores them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kilowatch.billing import compute_bill
from kilowatch.config import KilowatchConfig, load_config
from kilowatch.dashboards.build import DEFAULT_OUT_DIR, load, render
from kilowatch.etl.bills import bill_components
from kilowatch.etl.commands import plant_costing, run_bill, run_production
from kilowatch.etl.influx import InfluxSettings
from tests.etl.samples import INTERVAL_S, ZONE, local_day_energy, store_readings, write_csv
from tests.support.grafana.macros import ALL, Variable, interpolate
from tests.support.grafana.queries import panel_queries
from tests.support.grafana.timerange import TimeRange
from tests.support.services import REPO_ROOT, InfluxDB1

SOURCE = REPO_ROOT / "dashboards" / "energy_performance.dashboard.py"
JSON = REPO_ROOT / DEFAULT_OUT_DIR / "energy_performance.json"
PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
PRODUCTION_DAYS = ("2026-10-31", "2026-11-01", "2026-11-02")
UNITS = {"assembly": 500, "utilities": 250}


def dashboard_json() -> dict[str, Any]:
    return json.loads(render(load(SOURCE)))


def test_the_committed_json_is_what_the_source_generates() -> None:
    assert JSON.read_text(encoding="utf-8") == render(load(SOURCE))


def test_it_has_intensity_and_reconciliation_panels() -> None:
    titles = [p["title"] for p in dashboard_json()["panels"]]
    assert "Energy per unit (kWh/unit)" in titles
    assert "Utility bills against kilowatch's, per month and component" in titles
    assert [v["name"] for v in dashboard_json()["templating"]["list"]] == [
        "plant",
        "tz",
        "currency",
        "line",
    ]


@pytest.fixture
def filled(
    tmp_path: Path, influxdb: InfluxDB1, influx_db_name: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Readings of plant sea, a production file and a month's bill loaded by the ETLs."""
    config: KilowatchConfig = load_config(PLANT_FILE)
    stored = store_readings(influxdb, influx_db_name, config)
    target = InfluxSettings(influxdb.url, influx_db_name, version="1")
    rows = [(day, line, "part", n) for day in PRODUCTION_DAYS for line, n in UNITS.items()]
    production = write_csv(tmp_path / "prod.csv", ["date", "line", "product", "units"], rows)
    run_production(production, config=PLANT_FILE, plant="sea", influx=target, out=io.StringIO())
    costing = plant_costing(config.plant_by_id["sea"])
    bill = compute_bill(
        costing, stored[["ts", "energy_kwh"]].assign(interval_s=INTERVAL_S), "2026-10"
    )
    ours = bill_components([bill]).iloc[0].to_dict()
    bills = write_csv(
        tmp_path / "bills.csv",
        ["period", "energy_kwh", "total"],
        [("2026-10", ours["energy_kwh"], round(ours["total"] * 1.2, 2))],  # billed 20 % more
    )
    run_bill(bills, config=PLANT_FILE, plant="sea", influx=target, out=io.StringIO())
    return stored, ours


@pytest.mark.integration
def test_every_query_runs_and_the_numbers_match_the_readings(
    influxdb: InfluxDB1, influx_db_name: str, filled: tuple[pd.DataFrame, dict[str, Any]]
) -> None:
    stored, _ = filled
    time_range = TimeRange(
        int(pd.Timestamp("2026-09-01", tz=ZONE).timestamp() * 1000),
        int(pd.Timestamp("2026-11-10", tz=ZONE).timestamp() * 1000),
    )
    variables = [
        Variable("plant", ("sea",)),
        Variable("tz", (ZONE,)),
        Variable("currency", ("USD",)),
        Variable(
            "line",
            (ALL,),
            multi=True,
            include_all=True,
            all_value=".*",
            options=tuple(UNITS),
        ),
    ]
    answers: dict[str, list[dict[str, Any]]] = {}
    for query in panel_queries(dashboard_json()):
        text = interpolate(
            query.query, time_range=time_range, interval=86_400_000, variables=variables
        )
        answers[query.panel] = influxdb.query(text, influx_db_name)
        assert answers[query.panel], f"{query.panel} returned nothing: {text}"
    energy = local_day_energy(stored)
    days = [pd.Timestamp(d) for d in PRODUCTION_DAYS]
    kwh = sum(energy[(day, line)] for day in days for line in UNITS)
    units = len(days) * sum(UNITS.values())
    (per_unit,) = answers["Energy per unit (kWh/unit)"]
    assert per_unit["sum_sum"] == pytest.approx(kwh / units)
    (produced,) = answers["Units produced"]
    assert produced["sum"] == units
    (flag_count,) = answers["Bill amounts flagged"]
    assert flag_count["count"] == 1  # the total, 20 % above kilowatch's
    table = {
        row["component"]: row
        for row in answers["Utility bills against kilowatch's, per month and component"]
    }
    assert set(table) == {"energy_kwh", "total"}
    assert table["total"]["flagged"] is True and table["energy_kwh"]["flagged"] is False
    by_day = answers["Energy per unit by line and day (kWh/unit)"]
    assert len(by_day) == len(days) * len(UNITS)  # one value per line and local day
    first_assembly = next(r for r in by_day if r["line"] == "assembly")
    assert first_assembly["sum_sum"] == pytest.approx(energy[(days[0], "assembly")] / 500)
