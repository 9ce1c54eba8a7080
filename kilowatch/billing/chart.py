"""The bill's chart: the daily cost of energy above the demand profile with its peak.

Demand is charged once, on the period's peak, so it is not stacked on any day's bar (it would
flatten every other bar): the top panel shows what each day's energy cost (with its share of
taxes and surcharges, and the fixed charges spread evenly), and a box lists the bill's parts.
Windows without readings are gaps in the demand line, not 0 kW. Times are the plant's local
time, named on the axis.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from kilowatch.billing.bill import Bill
from kilowatch.billing.errors import BillingError
from kilowatch.billing.pricing import WindowDemand, window_demand
from kilowatch.billing.usage import usage_by_period
from kilowatch.tariff import PlantTariff

COLUMNS = ("energy", "fixed", "other")


def daily_components(plant: PlantTariff, bill: Bill, readings: pd.DataFrame) -> pd.DataFrame:
    """Cost per local day: energy (pre-tax, from its readings), fixed (spread evenly over the
    days) and the rest (power factor, surcharges, tax, spread by energy). Demand is not in it:
    it is charged on the peak, for the whole period."""
    period = bill.period
    days = pd.date_range(period.first_day, periods=period.days, freq="D").date
    table = pd.DataFrame(0.0, index=days, columns=list(COLUMNS))
    ts = readings["ts"].to_numpy(np.int64)
    length = readings["interval_s"].to_numpy(np.int64)
    start = ts - length
    inside = (start >= period.start_ts) & (ts <= period.end_ts)
    if inside.any():
        split = plant.split_many(ts[inside], length[inside])
        pretax = (split.pretax_per_kwh * readings["energy_kwh"].to_numpy()[inside, None]).sum(1)
        local = pd.to_datetime(start[inside], unit="s", utc=True).tz_convert(plant.zone).date
        table["energy"] = pd.Series(pretax).groupby(local).sum().reindex(days, fill_value=0.0)
    table["fixed"] = bill.subtotal("fixed", "minimum") / period.days
    other = bill.subtotal("power_factor", "surcharge", "tax")
    energy_total = table["energy"].sum()
    if energy_total > 0:
        table["other"] = other * table["energy"] / energy_total
    return table


def measured_demand(windows: WindowDemand, readings: pd.DataFrame, window_s: int) -> np.ndarray:
    """Each window's kW, NaN where no reading ends inside the window (no data, not 0 kW)."""
    ends = np.sort(readings["ts"].to_numpy(np.int64))
    first = np.searchsorted(ends, windows.end_ts - window_s, side="right")
    last = np.searchsorted(ends, windows.end_ts, side="right")
    return np.where(last > first, windows.kw, np.nan)


def parts_text(bill: Bill) -> str:
    """The bill's parts, one per line, for the chart's box."""
    rows = [("energy", bill.subtotal("energy"))]
    for peak in bill.peaks:
        price = next((line.price for line in bill.lines if line.label == peak.charge), 0.0)
        rows.append((f"{peak.charge} ({peak.billed_kw:,.1f} kW)", peak.billed_kw * price))
    rows += [
        ("fixed", bill.subtotal("fixed", "minimum")),
        ("taxes and other", bill.subtotal("power_factor", "surcharge", "tax")),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {amount:>12,.2f}" for name, amount in rows]
    total = "total so far" if not bill.final else "total"
    lines.append(f"{total:<{width}}  {bill.total:>12,.2f} {bill.currency}")
    if bill.coverage is not None and bill.coverage.projected_total is not None:
        lines.append(f"{'projected':<{width}}  {bill.coverage.projected_total:>12,.2f}")
    return "\n".join(lines)


def billed_demand_labels(bill: Bill) -> list[tuple[float, str]]:
    """(kW, label) of each billed demand below its peak; charges billed on the same kW share
    one label, so their texts do not print over each other."""
    labels: dict[float, list[str]] = {}
    for peak in bill.peaks:
        if abs(peak.billed_kw - peak.peak_kw) > 0.05:
            why = "capped by load factor" if peak.cap_kw == peak.billed_kw else "ratchet"
            labels.setdefault(round(peak.billed_kw, 1), []).append(f"{peak.charge} ({why})")
    return [(kw, f"billed {kw:,.1f} kW: {', '.join(charges)}") for kw, charges in labels.items()]


def draw_chart(plant: PlantTariff, bill: Bill, readings: pd.DataFrame, path: Path) -> None:
    """Write a PNG: daily energy cost (and the bill's parts) above the demand profile."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        raise BillingError(
            "--chart needs matplotlib; install it (pip install matplotlib) or leave --chart out"
        ) from None
    zone = plant.zone
    daily = daily_components(plant, bill, readings)
    usage = usage_by_period(
        plant,
        [bill.period],
        readings["ts"].to_numpy(np.int64),
        readings["interval_s"].to_numpy(np.int64),
        readings["energy_kwh"].to_numpy(np.float64),
    )[0]
    windows = window_demand(plant, bill.period, usage)
    demand = plant.tariff.billing.demand
    window_s = demand.window_s if demand is not None else 900
    kw = measured_demand(windows, readings, window_s)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7.5), constrained_layout=True)
    day_starts = pd.to_datetime(
        [datetime(d.year, d.month, d.day) for d in daily.index]
    ).tz_localize(zone)
    stacked = np.zeros(len(daily))
    for column in COLUMNS:
        top.bar(
            day_starts + pd.Timedelta(hours=12),
            daily[column],
            width=0.8,
            bottom=stacked,
            label=column,
        )
        stacked += daily[column].to_numpy()
    top.set_ylabel(f"{bill.currency} per day (demand charged apart)")
    status = "bill so far" if not bill.final else "bill"
    coverage = bill.coverage
    if bill.final and coverage is not None and coverage.days_covered < bill.period.days - 1:
        status = f"incomplete bill ({coverage.days_covered:.0f} of {bill.period.days} days read)"
    top.set_title(
        f"{bill.plant or bill.scope} {status}, {bill.period.label}: "
        f"{bill.total:,.2f} {bill.currency} (tariff {bill.tariff})"
    )
    top.legend(loc="upper right")
    top.set_ylim(0, max(float(stacked.max(initial=0.0)), 1e-9) * 1.6)  # room for the box
    top.text(
        0.01,
        0.97,
        parts_text(bill),
        transform=top.transAxes,
        va="top",
        family="monospace",
        fontsize=8,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
    )
    when = pd.to_datetime(windows.end_ts, unit="s", utc=True).tz_convert(zone)
    bottom.plot(when, kw, linewidth=0.6)
    if np.isfinite(kw).any():
        best = int(np.nanargmax(kw))
        bottom.scatter([when[best]], [kw[best]], color="red", zorder=3)
        right_half = best > len(kw) / 2  # text toward the middle, never past the axes
        bottom.annotate(
            f"peak {kw[best]:,.1f} kW, {when[best]:%m-%d %H:%M}",
            (when[best], kw[best]),
            textcoords="offset points",
            xytext=(-6, -12) if right_half else (6, -12),
            ha="right" if right_half else "left",
        )
    for billed_kw, label in billed_demand_labels(bill):
        bottom.axhline(billed_kw, color="grey", linestyle="--", linewidth=0.8)
        bottom.annotate(
            label,
            (when[0] if len(when) else 0, billed_kw),
            textcoords="offset points",
            xytext=(2, 3),
            fontsize=8,
        )
    bottom.set_ylabel(f"demand (kW, {window_s // 60}-minute windows)")
    bottom.set_xlabel(f"local time ({zone.key}); gaps: no readings")
    for axis in (top, bottom):
        locator = mdates.AutoDateLocator(tz=zone)
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))
        axis.set_xlim(day_starts[0], day_starts[-1] + pd.Timedelta(days=1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
