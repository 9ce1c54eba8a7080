"""Side by side with NREL's SAM (PySAM Utilityrate5): the same annual bill within 0.01 %.

SAM bills 8760 hourly loads over a non-leap year starting on a Monday, with no holidays and no
daylight saving time: 2018 in UTC is such a year. Hourly readings of E kWh make 15-minute
windows of E kW, which is SAM's hourly demand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kilowatch.billing import compute_bills
from kilowatch.billing.urdb import urdb_tariff
from kilowatch.tariff import PlantTariff

utilityrate5 = pytest.importorskip("PySAM.Utilityrate5")

URDB = Path(__file__).parents[2] / "config/tariffs/urdb/56bbe2205457a34d2a8b456a.json"
YEAR_START = 1514764800  # 2018-01-01 00:00 UTC, a Monday
HOURS = 8760
UNLIMITED = 1e38


def sam_annual_bill(doc: dict[str, Any], load_kw: list[float]) -> float:
    """SAM's annual bill without a system, from the URDB rate's own numbers."""
    model = utilityrate5.new()
    model.Lifetime.system_use_lifetime_output = 0
    model.Lifetime.analysis_period = 1
    model.Lifetime.inflation_rate = 0
    model.SystemOutput.gen = [0.0] * HOURS
    model.SystemOutput.degradation = [0]
    model.Load.load = load_kw
    model.Load.load_escalation = [0]
    rates = model.ElectricityRates
    rates.rate_escalation = [0]
    rates.ur_metering_option = 0
    rates.en_electricity_rates = 1
    rates.ur_monthly_fixed_charge = doc.get("fixedmonthlycharge", 0.0)
    rates.ur_monthly_min_charge = 0
    rates.ur_annual_min_charge = 0
    rates.ur_ec_sched_weekday = [[p + 1 for p in row] for row in doc["energyweekdayschedule"]]
    rates.ur_ec_sched_weekend = [[p + 1 for p in row] for row in doc["energyweekendschedule"]]
    rates.ur_ec_tou_mat = [
        [i + 1, 1, UNLIMITED, 0, tiers[0]["rate"], 0]
        for i, tiers in enumerate(doc["energyratestructure"])
    ]
    rates.ur_dc_enable = 1
    rates.ur_dc_sched_weekday = [[p + 1 for p in row] for row in doc["demandweekdayschedule"]]
    rates.ur_dc_sched_weekend = [[p + 1 for p in row] for row in doc["demandweekendschedule"]]
    rates.ur_dc_tou_mat = [
        [j + 1, 1, UNLIMITED, tiers[0]["rate"]]
        for j, tiers in enumerate(doc["demandratestructure"])
    ]
    flat = doc["flatdemandstructure"]
    rates.ur_dc_flat_mat = [
        [month, 1, UNLIMITED, flat[doc["flatdemandmonths"][month]][0]["rate"]]
        for month in range(12)
    ]
    rates.ur_sell_eq_buy = 0
    rates.ur_nm_yearend_sell_rate = 0
    rates.ur_en_ts_sell_rate = 0
    rates.ur_enable_billing_demand = 0
    rates.ur_yearzero_usage_peaks = [0.0] * 12
    model.execute()
    return float(model.Outputs.utility_bill_wo_sys[1])


def kilowatch_annual_bill(doc: dict[str, Any], load_kw: list[float]) -> float:
    plant = PlantTariff(urdb_tariff(doc), "UTC")
    readings = pd.DataFrame(
        {
            "ts": YEAR_START + 3600 * np.arange(1, HOURS + 1),
            "interval_s": 3600,
            "energy_kwh": load_kw,
        }
    )
    bills = compute_bills(plant, readings, [f"2018-{m:02d}" for m in range(1, 13)])
    return sum(bill.total for bill in bills)


def two_period_rate() -> dict[str, Any]:
    """A second TOU + demand rate, with a summer-only flat demand charge."""
    peak_hours = [0] * 14 + [1] * 6 + [0] * 4  # 14:00-20:00 on weekdays
    return {
        "label": "kilowatch-test",
        "name": "two-period test rate",
        "energyratestructure": [[{"rate": 0.071}], [{"rate": 0.213, "adj": 0.004}]],
        "energyweekdayschedule": [peak_hours] * 12,
        "energyweekendschedule": [[0] * 24] * 12,
        "demandratestructure": [[{"rate": 1.5}], [{"rate": 9.25}]],
        "demandweekdayschedule": [peak_hours] * 12,
        "demandweekendschedule": [[0] * 24] * 12,
        "flatdemandstructure": [[{"rate": 0}], [{"rate": 4.4}]],
        "flatdemandmonths": [0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0],
        "fixedmonthlycharge": 35.0,
    }


@pytest.mark.parametrize(
    "doc",
    [json.loads(URDB.read_text(encoding="utf-8")), two_period_rate()],
    ids=["sce-tou-8-b-urdb", "two-period"],
)
def test_annual_bill_matches_sam(doc: dict[str, Any]) -> None:
    # SAM takes a rate and its URDB adjustment as one number
    for_sam = {
        **doc,
        "energyratestructure": [
            [{"rate": t[0]["rate"] + t[0].get("adj", 0)}] for t in doc["energyratestructure"]
        ],
    }
    rng = np.random.default_rng(2018)
    hours = np.arange(HOURS)
    load = 300 + 120 * np.sin(2 * np.pi * (hours % 24) / 24) + 80 * rng.random(HOURS)
    load_kw = np.round(load, 3).tolist()
    ours = kilowatch_annual_bill(doc, load_kw)
    sam = sam_annual_bill(for_sam, load_kw)
    assert ours == pytest.approx(sam, rel=1e-4)
