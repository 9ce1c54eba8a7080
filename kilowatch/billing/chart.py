"""The bill's chart: daily cost by component and the demand profile with its peak marked."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from kilowatch.billing.bill import Bill
from kilowatch.billing.errors import BillingError
from kilowatch.billing.pricing import window_demand
from kilowatch.billing.usage import usage_by_period
from kilowatch.tariff import PlantTariff


def daily_components(plant: PlantTariff, bill: Bill, readings: pd.DataFrame) -> pd.DataFrame:
    """Cost per local day: energy (pre-tax, from its readings), demand (on the peak's day),
    fixed (spread evenly) and the rest (power factor, surcharges, tax, spread by energy)."""
    period = bill.period
    days = pd.date_range(period.first_day, periods=period.days, freq="D").date
    table = pd.DataFrame(0.0, index=days, columns=["energy", "demand", "fixed", "other"])
    ts = readings["ts"].to_numpy(np.int64)
    length = readings["interval_s"].to_numpy(np.int64)
    start = ts - length
    inside = (start >= period.start_ts) & (ts <= period.end_ts)
    if inside.any():
        split = plant.split_many(ts[inside], length[inside])
        pretax = (split.pretax_per_kwh * readings["energy_kwh"].to_numpy()[inside, None]).sum(1)
        local = pd.to_datetime(start[inside], unit="s", utc=True).tz_convert(plant.zone).date
        table["energy"] = pd.Series(pretax).groupby(local).sum().reindex(days, fill_value=0.0)
    for peak in bill.peaks:
        if peak.peak_window_end_ts is not None:
            day = datetime.fromtimestamp(peak.peak_window_end_ts - 1, plant.zone).date()
            if day in table.index:
                table.loc[day, "demand"] += peak.billed_kw * _price(bill, peak.charge)
    table["fixed"] = bill.subtotal("fixed", "minimum") / period.days
    other = bill.subtotal("power_factor", "surcharge", "tax")
    energy_total = table["energy"].sum()
    if energy_total > 0:
        table["other"] = other * table["energy"] / energy_total
    return table


def _price(bill: Bill, charge: str) -> float:
    return next((line.price for line in bill.lines if line.label == charge), 0.0)


def draw_chart(plant: PlantTariff, bill: Bill, readings: pd.DataFrame, path: Path) -> None:
    """Write a PNG: stacked daily cost by component above the demand profile (peak marked)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BillingError(
            "--chart needs matplotlib; install it (pip install matplotlib) or leave --chart out"
        ) from None
    daily = daily_components(plant, bill, readings)
    usage = usage_by_period(
        plant,
        [bill.period],
        readings["ts"].to_numpy(np.int64),
        readings["interval_s"].to_numpy(np.int64),
        readings["energy_kwh"].to_numpy(np.float64),
    )[0]
    windows = window_demand(plant, bill.period, usage)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), constrained_layout=True)
    bottom_of_bar = np.zeros(len(daily))
    for column in daily.columns:
        top.bar(daily.index, daily[column], bottom=bottom_of_bar, label=column)
        bottom_of_bar += daily[column].to_numpy()
    top.set_ylabel(f"{bill.currency} per day")
    top.set_title(f"{bill.scope}: {bill.period.label}, total {bill.total:,.2f} {bill.currency}")
    top.legend()
    when = pd.to_datetime(windows.end_ts, unit="s", utc=True).tz_convert(plant.zone)
    bottom.plot(when, windows.kw, linewidth=0.6)
    if len(windows.kw):
        best = int(np.argmax(windows.kw))
        bottom.scatter([when[best]], [windows.kw[best]], color="red", zorder=3)
        bottom.annotate(f"peak {windows.kw[best]:,.1f} kW", (when[best], windows.kw[best]))
    bottom.set_ylabel("demand (kW)")
    figure.savefig(path, dpi=110)
    plt.close(figure)
