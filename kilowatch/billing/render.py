"""A bill as a terminal table, JSON or CSV (text in, text out)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from rich.table import Table

from kilowatch.billing.bill import Bill

CSV_COLUMNS = ("kind", "label", "quantity", "unit", "price", "amount")


def _quantity(value: float, unit: str) -> str:
    return f"{value:,.2f}" if unit in ("%", "kWh", "kvarh", "kW") else f"{value:g}"


def bill_table(bill: Bill, zone: ZoneInfo | None = None) -> Table:
    """The bill line by line, as a utility bill shows it, with the total."""
    period = bill.period
    title = (
        f"{bill.scope or 'bill'}: {period.first_day} to {period.next_first_day} "
        f"({period.days} days), tariff {bill.tariff}"
    )
    table = Table(title=title, show_footer=True)
    table.add_column("charge", footer="total")
    table.add_column("quantity", justify="right")
    table.add_column("unit")
    table.add_column("price", justify="right")
    table.add_column(f"amount ({bill.currency})", justify="right", footer=f"{bill.total:,.2f}")
    for line in bill.lines:
        price = f"{line.price:g} %" if line.unit == "%" else f"{line.price:,.5f}"
        table.add_row(
            line.label,
            _quantity(line.quantity, line.unit),
            "" if line.unit == "%" else line.unit,
            price,
            f"{line.amount:,.2f}",
        )
    captions = [f"energy {bill.energy_kwh:,.1f} kWh from {bill.readings} readings"]
    for peak in bill.peaks:
        when = ""
        if peak.peak_window_end_ts is not None:
            moment = datetime.fromtimestamp(peak.peak_window_end_ts, zone or ZoneInfo("UTC"))
            when = f" (window ending {moment:%Y-%m-%d %H:%M %Z})"
        captions.append(
            f"{peak.charge}: peak {peak.peak_kw:,.1f} kW{when}, billed {peak.billed_kw:,.1f} kW"
        )
    if bill.power_factor is not None:
        captions.append(f"power factor {bill.power_factor:.4f}")
    captions.extend(bill.notes)
    table.caption = "\n".join(captions)
    return table


def bill_json(bill: Bill) -> str:
    """The bill as indented JSON (lines, peaks, totals per kind, total)."""
    return orjson.dumps(bill.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


def bill_csv(bill: Bill) -> str:
    """One row per bill line, then the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in bill.lines:
        writer.writerow(
            [line.kind, line.label, repr(line.quantity), line.unit, repr(line.price), line.amount]
        )
    writer.writerow(["total", "total", "", bill.currency, "", bill.total])
    return out.getvalue()
