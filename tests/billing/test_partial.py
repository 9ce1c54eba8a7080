"""A billing period in progress gives the bill so far, marked as such, with a projection; the
load-factor cap counts the hours elapsed, not the whole period's; numbers leave rounded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kilowatch.billing import compute_bill
from kilowatch.billing.bill import BillLine, line_dict
from kilowatch.billing.render import bill_csv, bill_json, bill_table, coverage_text
from tests.billing.samples import FLAT, plant
from tests.tariff.samples import utc

OCT = utc(2026, 10, 1)
NOV = utc(2026, 11, 1)
DAY = 86_400
QUARTER = 900

CAPPED = plant(
    FLAT,
    demand={"charges": [{"name": "Distribucion", "per_kw": 10.0, "load_factor_cap": 0.5}]},
    fixed=[{"name": "meter", "per_day": 1.0}],
)


def steady(kw: float, days: int, start: int = OCT) -> pd.DataFrame:
    """`days` days of quarter-hour readings at a steady `kw`."""
    ends = start + QUARTER * np.arange(1, days * 96 + 1)
    return pd.DataFrame(
        {"ts": ends, "interval_s": QUARTER, "energy_kwh": kw * QUARTER / 3600, "meter": "m1"}
    )


def test_a_period_in_progress_is_a_bill_so_far_with_a_projection() -> None:
    readings = steady(10.0, 5)  # 1,200 kWh in the first 5 of October's 31 days
    bill = compute_bill(CAPPED, readings, "2026-10", now=OCT + 5 * DAY + 600)
    assert not bill.final
    assert bill.coverage is not None and bill.coverage.in_progress
    assert (bill.coverage.through_ts, bill.coverage.days_covered) == (OCT + 5 * DAY, 5.0)
    lines = {line.label: line for line in bill.lines}
    # The cap over the 120 hours elapsed (1200 / (120 x 0.5) = 20 kW) does not cut the 10 kW
    # peak; over the whole month (744 h) it would bill 3.2 kW.
    assert lines["Distribucion"].quantity == pytest.approx(10.0)
    assert (lines["meter"].quantity, lines["meter"].amount) == (5, 5.0)  # days begun so far
    assert bill.total == pytest.approx(120.0 + 100.0 + 5.0)
    # At the same pace: 31/5 of the energy, the peak so far, every day's fixed charge.
    assert bill.coverage.projected_total == pytest.approx(120.0 * 31 / 5 + 100.0 + 31.0)
    assert coverage_text(bill).startswith("bill so far, data through 10-06 00:00 UTC, 5 of 31")
    as_json = json.loads(bill_json(bill))
    assert as_json["final"] is False and as_json["coverage"]["projected_total"] == 875.0
    rows = bill_csv(bill).splitlines()
    assert rows[-2].endswith(",total,total so far,,,,,225.0")
    assert rows[-1].endswith(",projection,projected total,,,,,875.0")


def test_an_ended_period_bills_the_cap_over_every_day_and_says_why() -> None:
    readings = steady(10.0, 5)
    bill = compute_bill(CAPPED, readings, "2026-10", now=NOV + DAY)
    assert bill.final and bill.coverage is not None and not bill.coverage.in_progress
    lines = {line.label: line for line in bill.lines}
    assert lines["Distribucion"].quantity == pytest.approx(1200 / (744 * 0.5))
    assert lines["meter"].quantity == 31
    assert any(
        note.startswith("Distribucion: billed 3.2 kW, not the 10.0 kW peak") for note in bill.notes
    )
    assert "5 of 31 days have readings" in coverage_text(bill)


def test_a_bill_without_now_is_as_before() -> None:
    readings = steady(10.0, 31)
    with_now = compute_bill(CAPPED, readings, "2026-10", now=NOV + DAY)
    without = compute_bill(CAPPED, readings, "2026-10")
    assert with_now.lines == without.lines and with_now.total == without.total


def test_json_and_csv_numbers_mean_something() -> None:
    tax = plant({**FLAT, "tax_percent": 16, "rates": {"standard": 0.0784 * 12}})
    readings = steady(7.3, 3)
    bill = compute_bill(tax, readings, "2026-10", now=NOV)
    text = bill_json(bill)
    assert not re.search(r"\d\.\d{11,}", text), text  # no binary noise such as 0.9408000000000003
    lines = json.loads(text)["lines"]
    assert lines[0]["price"] == 0.9408
    tax_line = next(line for line in lines if line["kind"] == "tax")
    # A percentage line: its base is money, in `base`, not in `quantity`.
    assert tax_line["quantity"] is None and tax_line["unit"] == "%" and tax_line["price"] == 16
    assert tax_line["base"] == bill.subtotal("energy")
    assert not re.search(r"\d\.\d{11,}", bill_csv(bill))
    assert line_dict(BillLine("energy", "e", 1.23456789, "kWh", 0.9408000000000003, 1.16)) == {
        "kind": "energy",
        "label": "e",
        "quantity": 1.235,
        "unit": "kWh",
        "price": 0.9408,
        "base": None,
        "amount": 1.16,
    }
    assert "16 % of" in str(bill_table(bill).columns[3]._cells[-1])


def test_chart_leaves_demand_apart_and_gaps_empty(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from kilowatch.billing.chart import daily_components, draw_chart, measured_demand, parts_text
    from kilowatch.billing.pricing import window_demand
    from kilowatch.billing.usage import usage_by_period

    readings = steady(10.0, 6)
    readings = readings[(readings["ts"] <= OCT + 2 * DAY) | (readings["ts"] > OCT + 4 * DAY)]
    bill = compute_bill(CAPPED, readings, "2026-10", now=OCT + 6 * DAY + 60)
    daily = daily_components(CAPPED, bill, readings)
    assert list(daily.columns) == ["energy", "fixed", "other"]  # demand is charged apart
    assert daily["energy"].iloc[2:4].sum() == 0 and daily["energy"].iloc[0] == pytest.approx(24)
    usage = usage_by_period(
        CAPPED,
        [bill.period],
        readings["ts"].to_numpy(),
        readings["interval_s"].to_numpy(),
        readings["energy_kwh"].to_numpy(),
    )[0]
    windows = window_demand(CAPPED, bill.period, usage)
    kw = measured_demand(windows, readings, 900)
    gap = (windows.end_ts > OCT + 2 * DAY) & (windows.end_ts <= OCT + 4 * DAY)
    assert np.isnan(kw[gap]).all() and np.allclose(kw[~gap & (windows.end_ts <= OCT + 6 * DAY)], 10)
    text = parts_text(bill)
    assert "Distribucion (10.0 kW)" in text and "fixed" in text and "total so far" in text
    chart = tmp_path / "bill.png"
    draw_chart(CAPPED, bill, readings, chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_ended_period_whose_readings_start_late_is_marked_incomplete() -> None:
    """A week of backfill on the 5th: last month's readings begin on its 28th, not its 1st."""
    readings = steady(10.0, 3, start=OCT + 28 * DAY)
    bill = compute_bill(CAPPED, readings, "2026-10", now=NOV + DAY)
    assert bill.coverage is not None
    assert bill.coverage.days_covered == pytest.approx(3.0)
    assert "3 of 31 days have readings" in coverage_text(bill)


def test_a_gap_inside_the_period_is_not_covered() -> None:
    readings = steady(10.0, 31)
    readings = readings[(readings["ts"] <= OCT + 10 * DAY) | (readings["ts"] > OCT + 20 * DAY)]
    bill = compute_bill(CAPPED, pd.concat([readings, readings.assign(meter="m2")]), "2026-10")
    assert bill.coverage is not None and bill.coverage.days_covered == pytest.approx(21.0)


def test_charges_billed_on_the_same_capped_kw_share_one_chart_label() -> None:
    pytest.importorskip("matplotlib")
    from kilowatch.billing.chart import billed_demand_labels

    two = plant(
        FLAT,
        demand={
            "charges": [
                {"name": "Distribucion", "per_kw": 10.0, "load_factor_cap": 0.5},
                {"name": "Capacidad", "per_kw": 30.0, "load_factor_cap": 0.5},
            ]
        },
    )
    bill = compute_bill(two, steady(10.0, 5), "2026-10", now=NOV + DAY)
    labels = billed_demand_labels(bill)
    assert len(labels) == 1  # one dashed line, one text: they used to print over each other
    kw, text = labels[0]
    assert kw == pytest.approx(3.2)
    assert "Distribucion (capped by load factor)" in text and "Capacidad" in text
