"""URDB import: the shipped SCE document, tiers, flat demand by month, and what is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kilowatch.billing import BillingError, compute_bill
from kilowatch.billing.urdb import import_urdb, urdb_tariff
from kilowatch.cli.billing import run_import_urdb
from kilowatch.tariff import PlantTariff, load_tariff
from tests.billing.samples import readings
from tests.tariff.samples import utc

ROOT = Path(__file__).parents[2]
SCE_JSON = ROOT / "config/tariffs/urdb/56bbe2205457a34d2a8b456a.json"
SCE_YAML = ROOT / "config/tariffs/sce-tou-8-b-urdb.yaml"


def sce() -> dict[str, Any]:
    return json.loads(SCE_JSON.read_text(encoding="utf-8"))


def test_shipped_sce_file_is_the_import_of_its_json(tmp_path: Path) -> None:
    out = tmp_path / "sce.yaml"
    assert run_import_urdb(SCE_JSON, out, "sce-tou-8-b-urdb", "2016") == 0
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(SCE_YAML.read_text())
    assert load_tariff(out).key == "sce-tou-8-b-urdb@2016"


def test_sce_periods_rates_and_demand() -> None:
    tariff = urdb_tariff(sce(), tariff_id="sce", version="2016")
    # summer weekdays: e3 off-peak, e4 mid-peak (demand d1 at 08:00, d2 from 09:00), e5 on-peak
    assert set(tariff.periods) == {"e1-d1", "e2-d1", "e3-d1", "e4-d1", "e4-d2", "e5-d3"}
    charges = {c.name: c for c in tariff.billing.demand.charges}  # type: ignore[union-attr]
    assert charges["demand d3"].per_kw == 22.45 and charges["demand d3"].periods == ("e5-d3",)
    assert charges["demand (all hours)"].per_kw == 15.57
    assert tariff.billing.fixed[0].per_period == 609.78
    assert "demandreactivepowercharge" in (tariff.source.notes or "")
    assert tariff.source.url == "https://openei.org/apps/USURDB/rate/view/56bbe2205457a34d2a8b456a"


def test_sce_summer_day_bill_by_hand() -> None:
    plant = PlantTariff(urdb_tariff(sce()), "America/Los_Angeles")
    # Wednesday 1 July 2026: 100 kWh in each hour 12:00-13:00 (on-peak) and 02:00-03:00 local
    ts = [utc(2026, 7, 1, 20), utc(2026, 7, 1, 10)]
    bill = compute_bill(plant, readings(ts, 100.0, 3600), "2026-07")
    amounts = {line.label: line.amount for line in bill.lines}
    # 100 x 0.13943 = 13.94; 100 x 0.06202 = 6.20; 100 kW x 22.45 on-peak; 100 kW x 15.57 flat;
    # nothing in mid-peak demand hours: 0 kW
    assert amounts == {
        "energy e3-d1": 6.20,
        "energy e5-d3": 13.94,
        "demand d2": 0.00,
        "demand d3": 2245.00,
        "demand (all hours)": 1557.00,
        "customer charge": 609.78,
    }


def rate(**extra: Any) -> dict[str, Any]:
    return {
        "label": "x1",
        "name": "test",
        "energyratestructure": [[{"rate": 0.1}]],
        "energyweekdayschedule": [[0] * 24] * 12,
        "energyweekendschedule": [[0] * 24] * 12,
        **extra,
    }


def test_tiers_and_seasonal_flat_demand_and_daily_charge() -> None:
    doc = rate(
        energyratestructure=[[{"rate": 0.1, "max": 500}, {"rate": 0.08}]],
        flatdemandstructure=[[{"rate": 0}], [{"rate": 7.5}]],
        flatdemandmonths=[0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
        fixedchargefirstmeter=1.5,
        fixedchargeunits="$/day",
        mincharge=20,
        minchargeunits="$/month",
        demandratchetpercentage=[0.8] * 12,
    )
    raw = import_urdb(doc)
    assert raw["id"] == "urdb-x1"
    billing = raw["billing"]
    assert billing["energy_tiers"]["tiers"] == [{"up_to_kwh": 500.0}, {"rates": {"e1": 0.08}}]
    assert billing["demand"]["charges"] == [
        {
            "name": "demand (all hours, months 6-9)",
            "per_kw": 7.5,
            "months": [6, 7, 8, 9],
            "ratchet": {"percent": 80.0, "months": 11},
        }
    ]
    assert billing["fixed"] == [{"name": "customer charge", "per_day": 1.5}]
    assert billing["minimum_bill"] == 20.0
    plant = PlantTariff(urdb_tariff(doc), "UTC")
    bill = compute_bill(plant, readings([utc(2026, 1, 2)], 600.0, 3600), "2026-01")
    # 500 x 0.10 = 50.00, 100 x 0.08 = 8.00; 31 days x 1.50 = 46.50; no demand in January
    assert {line.label: line.amount for line in bill.lines} == {
        "energy e1 tier 1": 50.00,
        "energy e1 tier 2": 8.00,
        "customer charge": 46.50,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"energyratestructure": [[{"rate": 0.1, "max": 10, "unit": "kWh daily"}, {"rate": 1}]]},
            "not supported",
        ),
        (
            {
                "energyratestructure": [
                    [{"rate": 0.1, "max": 10}, {"rate": 1}],
                    [{"rate": 0.1, "max": 20}, {"rate": 1}],
                ]
            },
            "differ",
        ),
        ({"flatdemandstructure": [[{"rate": 1, "max": 5}, {"rate": 2}]]}, "tiered demand"),
        ({"demandratchetpercentage": [0.5] * 6 + [0.8] * 6}, "varies by month"),
        ({"fixedchargefirstmeter": 3, "fixedchargeunits": "$/year"}, "fixedchargeunits"),
        ({"energyweekdayschedule": [[0] * 24] * 11}, "12 rows"),
    ],
)
def test_unsupported_features_are_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(BillingError, match=message):
        import_urdb(rate(**extra))
