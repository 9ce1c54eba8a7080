"""Utility bills: validation of real files and the reconciliation with kilowatch's bills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kilowatch.billing import compute_bill
from kilowatch.config import PlantConfig, load_config
from kilowatch.etl import (
    EtlValidationError,
    bill_components,
    reconcile,
    reconciliation_points,
    validate_bills,
)
from kilowatch.etl.bills import ALIASES
from kilowatch.etl.commands import plant_costing
from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import read_table
from tests.etl.samples import write_csv, write_xlsx


def test_a_bills_file_in_the_utility_s_words_and_units_is_normalised(
    tmp_path: Path, sea: PlantConfig
) -> None:
    path = write_csv(
        tmp_path / "bills.csv",
        ["Billing period", "Energy (MWh)", "Demand (kW)", "Energy charge", "Total amount"],
        [("2026-09", "12.5", "80", '"$1,234.50"', "2000"), ("2026-10", "13", "", "1300", "2100")],
    )
    bills = validate_bills(read_table(path, ALIASES), sea, str(path))
    assert bills["billing_period"].tolist() == ["2026-09", "2026-10"]
    assert bills["energy_kwh"].tolist() == [12_500.0, 13_000.0]
    assert bills["energy_charge"].tolist() == [1234.5, 1300.0]
    assert bills["demand_kw"].iloc[0] == 80.0 and pd.isna(bills["demand_kw"].iloc[1])


def test_an_excel_bills_workbook_with_month_cells_is_read(tmp_path: Path, sea: PlantConfig) -> None:
    from datetime import datetime

    path = write_xlsx(
        tmp_path / "bills.xlsx",
        ["Month", "kWh", "Total"],
        [(datetime(2026, 9, 1), 12_000, 1999.99), (datetime(2026, 10, 1), 12_500.5, 2100)],
    )
    bills = validate_bills(read_table(path, ALIASES), sea, str(path))
    assert bills["billing_period"].tolist() == ["2026-09", "2026-10"]
    assert bills["energy_kwh"].tolist() == [12_000.0, 12_500.5]


def test_every_bad_bill_row_is_listed(tmp_path: Path, sea: PlantConfig) -> None:
    path = write_csv(
        tmp_path / "bills.csv",
        ["period", "energy_kwh", "total"],
        [
            ("2026-09", "100", "10"),
            ("2026-10", "one hundred", "10"),  # text in a number
            ("2026-10", "100", "10"),  # the same month again
            ("Oct 2026", "100", "10"),  # not YYYY-MM
            ("2026-08", "100", "n/a"),  # out of order; text in a number
        ],
    )
    with pytest.raises(EtlValidationError) as caught:
        validate_bills(read_table(path, ALIASES), sea, str(path))
    found = {(p.column, p.problem): p.rows for p in caught.value.problems}
    assert found[("energy_kwh", "is not a number")] == (3,)
    assert found[("total", "is not a number")] == (6,)
    assert found[("", "repeats another row's billing period (duplicate rows)")] == (3, 4)
    assert found[("period", "is not a billing period such as 2026-10 (YYYY-MM)")] == (5,)
    assert found[("", "comes before the row above it (billing periods out of order)")] == (6,)


def test_a_bills_file_without_amounts_names_what_it_needs(tmp_path: Path, sea: PlantConfig) -> None:
    path = write_csv(tmp_path / "b.csv", ["period", "notes"], [("2026-10", "paid")])
    with pytest.raises(EtlValidationError, match="energy_kwh or demand_kw or"):
        validate_bills(read_table(path, ALIASES), sea, str(path))


def readings_of_october(plant_file: Path) -> pd.DataFrame:
    """Two meters' 15-minute readings of October 2026 (local), a daily shape."""
    tariff = plant_costing(load_config(plant_file).plant_by_id["sea"])
    start = int(pd.Timestamp("2026-10-01", tz=tariff.zone).timestamp())
    ts = np.arange(start + 900, start + 31 * 86_400 + 900, 900)
    hour = (ts // 3600) % 24
    energy = 20.0 + 15.0 * ((hour >= 14) & (hour < 23))
    return pd.DataFrame({"ts": ts, "interval_s": 900, "energy_kwh": energy})


def test_kilowatch_s_own_bill_reconciles_without_flags_and_a_wrong_one_is_flagged(
    plant_file: Path, sea: PlantConfig
) -> None:
    tariff = plant_costing(load_config(plant_file).plant_by_id["sea"])
    bill = compute_bill(tariff, readings_of_october(plant_file), "2026-10")
    ours = bill_components([bill])
    utility = ours.copy()
    result = reconcile(utility, ours)
    assert not result["flagged"].any()
    assert set(result["component"]) >= {"energy_kwh", "energy_charge", "total"}
    utility.loc[0, "total"] = bill.total * 1.05  # the utility billed 5 % more
    utility.loc[0, "energy_kwh"] = bill.energy_kwh * 1.01  # within the 2 % threshold
    result = reconcile(utility, ours, threshold_percent=2.0).set_index("component")
    assert result.loc["total", "flagged"]
    assert result.loc["total", "difference_percent"] == pytest.approx(-100 * 0.05 / 1.05)
    assert not result.loc["energy_kwh", "flagged"]
    lines = reconciliation_points(result.reset_index(), sea, tariff.tariff.billing.read_day)
    total = next(line for line in lines if "component=total" in line)
    # The point stands at the start of the billing period: 2026-10-01 00:00 PDT.
    assert total.endswith(f" {int(pd.Timestamp('2026-10-01', tz='America/Los_Angeles').value)}")
    assert "flagged=true" in total


def test_blank_components_are_skipped_and_zero_bills_are_compared_in_money() -> None:
    utility = pd.DataFrame(
        {"billing_period": ["2026-10"], "tax": [0.0], "power_factor_adjustment": [np.nan]}
    )
    ours = pd.DataFrame(
        {"billing_period": ["2026-10"], "tax": [12.0], "power_factor_adjustment": [3.0]}
    )
    result = reconcile(utility, ours)
    assert result["component"].tolist() == ["tax"]  # the blank one is not compared
    assert result["flagged"].tolist() == [True]  # the utility billed no tax, kilowatch does
    with pytest.raises(EtlError, match="threshold"):
        reconcile(utility, ours, threshold_percent=-1)


def test_problems_name_columns_as_the_file_s_header_does(tmp_path: Path, sea: PlantConfig) -> None:
    path = write_csv(tmp_path / "bills.csv", ["Month", "Energy (MWh)"], [("2026-10", "twelve")])
    with pytest.raises(EtlValidationError) as caught:
        validate_bills(read_table(path, ALIASES), sea, str(path))
    assert "  column Energy (MWh): is not a number in row 2 (twelve)" in str(caught.value)
