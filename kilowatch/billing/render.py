"""A bill as a terminal table, JSON or CSV (text in, text out).

Numbers are rounded here, at the edge, to what they mean (amounts to the cent, energy to the
Wh, demand to the W, prices as the tariff writes them); the bill keeps its sums unrounded.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from rich.table import Table

from kilowatch.billing.bill import Bill, BillLine, line_dict

CSV_COLUMNS = (
    "plant",
    "meter",
    "period",
    "currency",
    "kind",
    "label",
    "quantity",
    "unit",
    "price",
    "base",
    "amount",
)


def _quantity(value: float, unit: str) -> str:
    return f"{value:,.2f}" if unit in ("kWh", "kvarh", "kW") else f"{value:g}"


def _price(line: BillLine, currency: str) -> str:
    if line.unit == "%":
        return f"{line.price:g} % of {line.quantity:,.2f}"
    return f"{line.price:,.5f}".rstrip("0").rstrip(".") if line.price else "0"


def _local(ts: int, zone: ZoneInfo | None) -> datetime:
    return datetime.fromtimestamp(ts, zone or ZoneInfo("UTC"))


def coverage_text(bill: Bill, zone: ZoneInfo | None = None) -> str:
    """'bill so far: data through 12-05 03:55 CST, 5 of 31 days' (or '' for a complete one)."""
    coverage = bill.coverage
    if coverage is None:
        return ""
    days = bill.period.days
    through = f"data through {_local(coverage.through_ts, zone):%m-%d %H:%M %Z}"
    if coverage.in_progress:
        return f"bill so far, {through}, {coverage.days_covered:.0f} of {days} days"
    if coverage.days_covered < days - 1:
        return f"incomplete: {through}, {coverage.days_covered:.0f} of {days} days have readings"
    return ""


def bill_table(bill: Bill, zone: ZoneInfo | None = None) -> Table:
    """The bill line by line, as a utility bill shows it, with the total."""
    period = bill.period
    scope = bill.scope or "bill"
    if bill.plant:
        scope = f"meter {bill.meter} of plant {bill.plant}" if bill.meter else f"plant {bill.plant}"
    title = (
        f"{scope}: {period.first_day} to {period.next_first_day} ({period.days} days), "
        f"tariff {bill.tariff}"
    )
    partial = coverage_text(bill, zone)
    if partial:  # a bill so far is shouted: it must not pass for the bill
        title += "\n" + (partial if bill.final else partial.upper())
    table = Table(title=title, show_footer=True)
    table.add_column("charge", footer="total so far" if not bill.final else "total")
    table.add_column("quantity", justify="right")
    table.add_column("unit")
    table.add_column("price", justify="right")
    table.add_column(f"amount ({bill.currency})", justify="right", footer=f"{bill.total:,.2f}")
    for line in bill.lines:
        table.add_row(
            line.label,
            "" if line.unit == "%" else _quantity(line.quantity, line.unit),
            "" if line.unit == "%" else line.unit,
            _price(line, bill.currency),
            f"{line.amount:,.2f}",
        )
    captions = [f"energy {bill.energy_kwh:,.1f} kWh from {bill.readings} readings"]
    if bill.coverage is not None and bill.coverage.projected_total is not None:
        captions.append(
            f"projected for the whole period at the pace so far: "
            f"{bill.coverage.projected_total:,.2f} {bill.currency} (demand: the peak so far)"
        )
    for peak in bill.peaks:
        when = ""
        if peak.peak_window_end_ts is not None:
            when = f" (window ending {_local(peak.peak_window_end_ts, zone):%Y-%m-%d %H:%M %Z})"
        captions.append(
            f"{peak.charge}: peak {peak.peak_kw:,.1f} kW{when}, billed {peak.billed_kw:,.1f} kW"
        )
    if bill.power_factor is not None:
        captions.append(f"power factor {bill.power_factor:.4f}")
    captions.extend(bill.notes)
    table.caption = "\n".join(captions)
    return table


def bill_json(bill: Bill) -> str:
    """The bill as indented JSON (lines, peaks, totals per kind, total, coverage)."""
    return orjson.dumps(bill.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


def bill_csv(bill: Bill) -> str:
    """One row per bill line, then the total (and the projection of a bill so far); every row
    names plant, meter, period and currency, so bills concatenate into one table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    head = [bill.plant, bill.meter or "", bill.period.label, bill.currency]
    for line in bill.lines:
        row = line_dict(line)
        writer.writerow(
            head + [row[name] if row[name] is not None else "" for name in CSV_COLUMNS[4:]]
        )
    total = "total" if bill.final else "total so far"
    writer.writerow([*head, "total", total, "", "", "", "", bill.total])
    if bill.coverage is not None and bill.coverage.projected_total is not None:
        projected = bill.coverage.projected_total
        writer.writerow([*head, "projection", "projected total", "", "", "", "", projected])
    return out.getvalue()
