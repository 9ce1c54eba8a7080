"""A month of the shipped CFE GDMTH tariff billed by hand: energy by period, demand, fixed,
power-factor bonus and IVA."""

from __future__ import annotations

from pathlib import Path

import pytest

from kilowatch.billing import compute_bill
from kilowatch.tariff import PlantTariff, load_tariff
from tests.billing.samples import readings
from tests.tariff.samples import local

TARIFFS = Path(__file__).parents[2] / "config/tariffs"
ZONE = "America/Hermosillo"


def test_cfe_gdmth_july_at_a_steady_100_kw() -> None:
    plant = PlantTariff(load_tariff(TARIFFS / "cfe-gdmth-noroeste.yaml"), ZONE)
    start, end = local(ZONE, 2026, 7, 1), local(ZONE, 2026, 8, 1)
    ends = list(range(start + 900, end + 1, 900))
    # 25 kWh a quarter hour (100 kW); 7/24 kvarh per kWh makes the power factor 24/25 = 0.96
    frame = readings(ends, 25.0, 900, reactive_kvarh=25.0 * 7 / 24)
    bill = compute_bill(plant, frame, "2026-07")
    # July 2026 (verano): 23 weekdays, 4 Saturdays, 4 Sundays, no holiday.
    # base: 23 x 6 h + 4 x 7 h + 4 x 19 h = 242 h -> 24,200 kWh x 0.9408 = 22,767.36
    # intermedia: 23 x 16 h + 4 x 17 h + 4 x 5 h = 456 h -> 45,600 kWh x 1.5035 = 68,559.60
    # punta: 23 x 2 h = 46 h -> 4,600 kWh x 1.6658 = 7,662.68
    # demand 100 kW (cap 74,400 / (24 x 31 x 0.57) = 175.4 kW is above it):
    # Distribucion 100 x 90.85 = 9,085.00; Capacidad 100 x 377.17 = 37,717.00; fijo 197.77
    # charges 145,989.41; bonus 1/4 x (1 - 0.90 / 0.96) = 1.5625 % -> -2,281.08
    # IVA 16 % of 143,708.33 = 22,993.33; total 166,701.66
    amounts = {line.label: line.amount for line in bill.lines}
    assert amounts == {
        "energy base": 22767.36,
        "energy intermedia": 68559.60,
        "energy punta": 7662.68,
        "Distribucion": 9085.00,
        "Capacidad": 37717.00,
        "Cargo fijo": 197.77,
        "power factor 0.9600 bonus": -2281.08,
        "tax": 22993.33,
    }
    assert bill.total == 166701.66
    assert bill.power_factor == pytest.approx(0.96)
