"""Bills worked out by hand, one tariff feature at a time (amounts worked out here, not by code)."""

from __future__ import annotations

import pandas as pd
import pytest

from kilowatch.billing import BillingError, compute_bill
from tests.billing.samples import FLAT, TOU, plant, readings, steady
from tests.tariff.samples import local, utc

OCT = utc(2026, 10, 1)
NOV = utc(2026, 11, 1)
DEC = utc(2026, 12, 1)
QUARTER = 900


def amounts(bill: object) -> dict[str, float]:
    return {line.label: line.amount for line in bill.lines}  # type: ignore[attr-defined]


def test_flat_energy_is_kwh_times_rate() -> None:
    bill = compute_bill(plant(FLAT), steady(OCT, NOV, 1.0), "2026-10")
    # 31 days x 96 quarter hours x 1 kWh x 0.10
    assert amounts(bill) == {"energy standard": 297.60}
    assert bill.total == 297.60
    assert bill.energy_kwh == pytest.approx(2976)


def test_a_tier_boundary_inside_one_reading() -> None:
    tariff = plant(
        FLAT,
        energy_tiers={"tiers": [{"up_to_kwh": 100}, {"rates": {"standard": 0.20}}]},
    )
    # Nine readings of 10 kWh (90 kWh), then one of 30 kWh that crosses 100 kWh.
    ts = [OCT + QUARTER * (k + 1) for k in range(10)]
    bill = compute_bill(tariff, readings(ts, [10.0] * 9 + [30.0]), "2026-10")
    # 100 kWh x 0.10 = 10.00; the remaining 20 kWh x 0.20 = 4.00
    assert amounts(bill) == {"energy standard tier 1": 10.00, "energy standard tier 2": 4.00}
    assert bill.total == 14.00
    assert bill.tier == 2


def test_tiers_counted_per_period() -> None:
    tariff = plant(
        TOU,
        energy_tiers={
            "counted": "per_period",
            "tiers": [{"up_to_kwh": 50}, {"rates": {"peak": 0.50, "off_peak": 0.15}}],
        },
    )
    # 60 kWh in the peak hour 18:00-19:00 and 40 kWh at 08:00-09:00 (off-peak).
    frame = readings([utc(2026, 10, 5, 19), utc(2026, 10, 5, 9)], [60.0, 40.0], interval_s=3600)
    bill = compute_bill(tariff, frame, "2026-10")
    # off-peak 40 kWh stays in tier 1: 4.00; peak 50 x 0.30 = 15.00, 10 x 0.50 = 5.00
    assert amounts(bill) == {
        "energy off_peak tier 1": 4.00,
        "energy peak tier 1": 15.00,
        "energy peak tier 2": 5.00,
    }


def test_total_tiers_are_shared_out_by_period() -> None:
    tariff = plant(
        TOU,
        energy_tiers={"tiers": [{"up_to_kwh": 50}, {"rates": {"peak": 0.50, "off_peak": 0.15}}]},
    )
    frame = readings([utc(2026, 10, 5, 19), utc(2026, 10, 5, 9)], [60.0, 40.0], interval_s=3600)
    bill = compute_bill(tariff, frame, "2026-10")
    # 100 kWh in total: half in tier 1, half in tier 2, in each period alike.
    # off-peak: 20 x 0.10 = 2.00 and 20 x 0.15 = 3.00; peak: 30 x 0.30 = 9.00, 30 x 0.50 = 15.00
    assert amounts(bill) == {
        "energy off_peak tier 1": 2.00,
        "energy off_peak tier 2": 3.00,
        "energy peak tier 1": 9.00,
        "energy peak tier 2": 15.00,
    }


def test_demand_peak_in_the_last_interval_of_the_month() -> None:
    tariff = plant(FLAT, demand={"charges": [{"name": "demand", "per_kw": 10}]})
    frame = steady(OCT, NOV, 1.0)  # 4 kW all month
    frame.loc[frame["ts"] == NOV, "energy_kwh"] = 5.0  # 23:45-24:00 on 31 October: 20 kW
    after = readings([NOV + QUARTER], [100.0])  # November's first quarter: not October's
    bill = compute_bill(tariff, pd.concat([frame, after]), "2026-10")
    assert bill.peaks[0].peak_kw == pytest.approx(20.0)
    assert bill.peaks[0].peak_window_end_ts == NOV
    # energy (2975 x 1 + 5) x 0.10 = 298.00; demand 20 kW x 10 = 200.00
    assert amounts(bill) == {"energy standard": 298.00, "demand": 200.00}


def test_demand_by_period_and_five_minute_readings() -> None:
    tariff = plant(
        TOU,
        demand={
            "charges": [
                {"name": "all hours", "per_kw": 2},
                {"name": "peak hours", "per_kw": 10, "periods": ["peak"]},
            ]
        },
    )
    # 5-minute readings of 0.5 kWh (6 kW); a 12 kWh spike at 03:05-03:10 (off-peak, 144 kW
    # for five minutes: 48 kW over its quarter hour with the two 0.5 kWh neighbours ->
    # (12 + 1) x 4 = 52 kW) and 2 kWh at 18:00-18:05 (peak: (2 + 1) x 4 = 12 kW).
    frame = steady(OCT, NOV, 0.5, interval_s=300)
    frame.loc[frame["ts"] == utc(2026, 10, 7, 3, 10), "energy_kwh"] = 12.0
    frame.loc[frame["ts"] == utc(2026, 10, 7, 18, 5), "energy_kwh"] = 2.0
    bill = compute_bill(tariff, frame, "2026-10")
    peaks = {p.charge: p for p in bill.peaks}
    assert peaks["all hours"].peak_kw == pytest.approx(52.0)
    assert peaks["peak hours"].peak_kw == pytest.approx(12.0)
    assert amounts(bill)["all hours"] == 104.00
    assert amounts(bill)["peak hours"] == 120.00


def test_sliding_window_finds_a_peak_across_quarter_hours() -> None:
    tariff = plant(
        FLAT,
        demand={
            "window": "sliding",
            "step_minutes": 5,
            "charges": [{"name": "demand", "per_kw": 1}],
        },
    )
    # 3 kWh in each of 00:10-00:15 and 00:15-00:20: fixed quarters see 3 kWh (12 kW) at most,
    # the sliding window 00:05-00:20 sees 6 kWh: 24 kW.
    frame = readings([OCT + 900, OCT + 1200], [3.0, 3.0], interval_s=300)
    bill = compute_bill(tariff, frame, "2026-10")
    assert bill.peaks[0].peak_kw == pytest.approx(24.0)
    fixed = compute_bill(
        plant(FLAT, demand={"charges": [{"name": "demand", "per_kw": 1}]}), frame, "2026-10"
    )
    assert fixed.peaks[0].peak_kw == pytest.approx(12.0)


def test_ratchet_bills_a_share_of_earlier_peaks() -> None:
    tariff = plant(
        FLAT,
        demand={
            "charges": [{"name": "demand", "per_kw": 10, "ratchet": {"percent": 80, "months": 2}}]
        },
    )
    september = steady(utc(2026, 9, 1), OCT, 1.0)
    september.loc[september.index[100], "energy_kwh"] = 25.0  # 100 kW in September
    october = steady(OCT, NOV, 1.0)
    october.loc[october.index[50], "energy_kwh"] = 15.0  # 60 kW in October
    november = steady(NOV, DEC, 1.0)  # 4 kW in November
    frame = pd.concat([september, october, november])
    bill = compute_bill(tariff, frame, "2026-11")
    # the highest of September and October is 100 kW; 80 % of it (80 kW) beats November's 4 kW
    assert bill.peaks[0].peak_kw == pytest.approx(4.0)
    assert bill.peaks[0].billed_kw == pytest.approx(80.0)
    assert amounts(bill)["demand"] == 800.00
    october_bill = compute_bill(tariff, frame, "2026-10")
    # 80 % of September's 100 kW is 80 kW, above October's 60 kW; notes: August unknown
    assert october_bill.peaks[0].billed_kw == pytest.approx(80.0)
    assert october_bill.notes


def test_cfe_load_factor_cap() -> None:
    tariff = plant(
        FLAT,
        demand={"charges": [{"name": "capacidad", "per_kw": 100, "load_factor_cap": 0.5}]},
    )
    frame = steady(OCT, NOV, 1.0)
    frame.loc[frame.index[0], "energy_kwh"] = 51.0  # a 204 kW quarter hour
    bill = compute_bill(tariff, frame, "2026-10")
    # cap = 3026 kWh / (24 h x 31 d x 0.5) = 8.1344 kW, under the 204 kW peak
    assert bill.peaks[0].billed_kw == pytest.approx(3026 / (24 * 31 * 0.5))
    assert amounts(bill)["capacidad"] == 813.44


CFE_PF = {
    "penalty": {"threshold": 0.9, "factor": 0.6, "max_percent": 120},
    "bonus": {"threshold": 0.9, "factor": 0.25, "max_percent": 2.5},
}


def test_power_factor_penalty() -> None:
    tariff = plant({**FLAT, "rates": {"standard": 1.0}}, power_factor=CFE_PF)
    frame = readings([OCT + 3600 * (k + 1) for k in range(10)], 100.0, 3600, reactive_kvarh=75.0)
    bill = compute_bill(tariff, frame, "2026-10")
    # pf = 1000 / sqrt(1000^2 + 750^2) = 0.8; penalty 3/5 x (90/80 - 1) = 7.5 % of 1000.00
    assert bill.power_factor == pytest.approx(0.8)
    assert amounts(bill) == {"energy standard": 1000.00, "power factor 0.8000 penalty": 75.00}
    assert bill.total == 1075.00


def test_power_factor_bonus() -> None:
    tariff = plant({**FLAT, "rates": {"standard": 1.0}}, power_factor=CFE_PF)
    frame = readings([OCT + 3600 * (k + 1) for k in range(24)], 100.0, 3600, reactive_kvarh=175 / 6)
    bill = compute_bill(tariff, frame, "2026-10")
    # 2400 kWh, 700 kvarh: pf = 2400 / 2500 = 0.96; bonus 1/4 x (1 - 90/96) = 1.5625 % of 2400
    assert bill.power_factor == pytest.approx(0.96)
    assert amounts(bill)["power factor 0.9600 bonus"] == -37.50
    assert bill.total == 2362.50


def test_charge_per_excess_kvarh() -> None:
    tariff = plant(FLAT, power_factor={"per_excess_kvarh": 0.05, "free_kvarh_per_kwh": 0.5})
    frame = readings([OCT + 3600], 1000.0, 3600, reactive_kvarh=800.0)
    bill = compute_bill(tariff, frame, "2026-10")
    # 800 - 0.5 x 1000 = 300 excess kvarh x 0.05
    assert amounts(bill)["excess reactive energy"] == 15.00


def test_dst_month_fixed_per_day_and_local_edges() -> None:
    zone = "America/Los_Angeles"  # clocks jump forward on 8 March 2026: 743 hours
    tariff = plant(FLAT, zone, fixed=[{"name": "base service", "per_day": 0.48}])
    start, end = local(zone, 2026, 3, 1), local(zone, 2026, 4, 1)
    assert end - start == 743 * 3600
    frame = pd.concat(
        [
            steady(start, end, 1.0, interval_s=3600),
            readings([start, end + 3600], 100.0, 3600),  # the hours just before and after
        ]
    )
    bill = compute_bill(tariff, frame, "2026-03")
    # 743 kWh x 0.10 = 74.30; 31 days x 0.48 = 14.88
    assert amounts(bill) == {"energy standard": 74.30, "base service": 14.88}
    assert bill.readings == 743


def test_billing_period_starting_mid_month() -> None:
    zone = "America/Mexico_City"
    tariff = plant(
        {**FLAT, "currency": "MXN", "tax_percent": 16},
        zone,
        read_day=15,
        fixed=[{"name": "cargo fijo", "per_period": 50}],
    )
    start, end = local(zone, 2026, 10, 1), local(zone, 2026, 12, 1)
    bill = compute_bill(tariff, steady(start, end, 1.0, interval_s=3600), "2026-10")
    # 15 October to 14 November: 31 days x 24 kWh x 0.10 = 74.40; fixed 50; IVA 16 % of 124.40
    assert bill.period.days == 31
    assert amounts(bill) == {"energy standard": 74.40, "cargo fijo": 50.00, "tax": 19.90}
    assert bill.total == 144.30


def test_minimum_bill_and_surcharges() -> None:
    tariff = plant(
        {**FLAT, "tax_percent": 10},
        minimum_bill=20,
        fixed=[{"name": "meter", "per_period": 5}],
        surcharges=[{"name": "city tax", "percent": 6, "applies_to": ["energy"]}],
    )
    bill = compute_bill(tariff, readings([OCT + 3600], 50.0, 3600), "2026-10")
    # energy 5.00 + fixed 5.00 = 10.00 < 20.00: minimum adds 10.00; city tax 6 % of 5.00 = 0.30
    # tax 10 % of 20.30 = 2.03
    assert amounts(bill) == {
        "energy standard": 5.00,
        "meter": 5.00,
        "minimum bill": 10.00,
        "city tax": 0.30,
        "tax": 2.03,
    }
    assert bill.total == 22.33


def test_meter_alone_has_no_fixed_charges() -> None:
    tariff = plant(FLAT, fixed=[{"name": "meter", "per_period": 5}], minimum_bill=100)
    bill = compute_bill(tariff, readings([OCT + 3600], 50.0, 3600), "2026-10", account=False)
    assert amounts(bill) == {"energy standard": 5.00}


def test_bad_period_label_is_refused() -> None:
    with pytest.raises(BillingError, match="YYYY-MM"):
        compute_bill(plant(FLAT), steady(OCT, NOV, 1.0), "October")


def test_taxes_on_chosen_components() -> None:
    tariff = plant(
        {**FLAT, "tax_percent": 16},
        fixed=[{"name": "meter", "per_period": 5}],
        taxes=[{"name": "energy tax", "percent": 10, "applies_to": ["energy"]}],
    )
    bill = compute_bill(tariff, readings([OCT + 3600], 50.0, 3600), "2026-10")
    # energy 5.00, fixed 5.00; tax 16 % of 10.00 = 1.60; energy tax 10 % of 5.00 = 0.50
    assert amounts(bill) == {
        "energy standard": 5.00,
        "meter": 5.00,
        "tax": 1.60,
        "energy tax": 0.50,
    }
    # per reading: 0.10 x (1.16 + 0.10) = 0.126 per kWh, the energy's share of the bill
    assert tariff.cost(OCT + 3600, 3600, 50.0).cost == pytest.approx(6.30)
