"""Utility bills: validate a client's monthly bills and reconcile them, per billing period and
component, with the bills kilowatch computes from its readings (kilowatch.billing).

Pure: DataFrames (and Bills) in, DataFrames or line-protocol text out.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from kilowatch.billing import Bill, BillingError, parse_period
from kilowatch.config import PlantConfig
from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import check_columns, numbers, pa, renamed, validate
from kilowatch.influx.schema import BILL_RECONCILIATION_FIELDS, reconciliation_lines

DEFAULT_THRESHOLD_PERCENT = 2.0
# An amount the utility billed as 0 is flagged when kilowatch's differs by more than this.
ZERO_TOLERANCE = 0.005

# component -> how kilowatch's Bill gives it
COMPONENTS: dict[str, tuple[str, ...]] = {
    "energy_kwh": (),
    "demand_kw": (),
    "energy_charge": ("energy",),
    "demand_charge": ("demand",),
    "fixed_charge": ("fixed", "minimum"),
    "power_factor_adjustment": ("power_factor",),
    "surcharges": ("surcharge",),
    "tax": ("tax",),
    "total": (),
}
ALIASES = {
    "month": "period",
    "billing_period": "period",
    "bill_period": "period",
    "kwh": "energy_kwh",
    "energy": "energy_kwh",
    "usage_kwh": "energy_kwh",
    "consumption_kwh": "energy_kwh",
    "kw": "demand_kw",
    "peak_kw": "demand_kw",
    "max_demand_kw": "demand_kw",
    "energy_cost": "energy_charge",
    "demand_cost": "demand_charge",
    "fixed": "fixed_charge",
    "fixed_charges": "fixed_charge",
    "service_charge": "fixed_charge",
    "customer_charge": "fixed_charge",
    "pf_adjustment": "power_factor_adjustment",
    "power_factor_charge": "power_factor_adjustment",
    "surcharge": "surcharges",
    "taxes": "tax",
    "total_amount": "total",
    "amount_due": "total",
    "total_charges": "total",
}
# Columns in other units, converted on reading: name -> (component, factor to its unit).
UNIT_COLUMNS: dict[str, tuple[str, float]] = {
    "energy_mwh": ("energy_kwh", 1000.0),
    "energy_wh": ("energy_kwh", 0.001),
    "mwh": ("energy_kwh", 1000.0),
    "demand_mw": ("demand_kw", 1000.0),
}
# The measurement's two row tags, then its fields (one home: kilowatch.influx.schema).
RECONCILIATION_COLUMNS = ["billing_period", "component", *BILL_RECONCILIATION_FIELDS]
_PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
_MONEY_SIGNS = r"[$€£¥\s]|MXN|USD|EUR"


def _amounts(values: pd.Series) -> pd.Series:
    """Amounts as float64: '$1,234.50' and '1234.5 MXN' read as 1234.5; NaN otherwise."""
    return numbers(values.astype(str).str.replace(_MONEY_SIGNS, "", regex=True))


def _periods(values: pd.Series) -> pd.Series:
    """'2026-10' (or an Excel month: '2026-10-01 00:00:00') as 'YYYY-MM'; NA otherwise."""
    text = values.astype(str).str.strip().str.slice(0, 7)
    excel = values.astype(str).str.strip().str.fullmatch(r"\d{4}-\d{2}(-01( 00:00:00)?)?")
    return text.where(excel & text.str.fullmatch(_PERIOD), None)


def bills_schema(components: list[str]) -> pa.DataFrameSchema:
    """The rules a bills table must follow: a YYYY-MM period per row, once, in order; numbers."""

    def once(frame: pd.DataFrame) -> pd.Series:
        return ~(frame["period"].duplicated(keep=False) & frame["period"].notna())

    def in_order(frame: pd.DataFrame) -> pd.Series:
        period = frame["period"]
        before = period.where(period.notna()).ffill().shift(1)
        return ~((period < before) & period.notna()).fillna(False)

    columns = {
        "period": pa.Column(nullable=False, parsers=pa.Parser(_periods)),
        **{
            name: pa.Column(
                "float64",
                nullable=True,
                parsers=pa.Parser(_amounts_or_blank),
                # text was parsed to -inf (blank cells are NaN: a component not billed)
                checks=pa.Check(lambda s: ~np.isinf(s), error="is not a number"),
            )
            for name in components
        },
    }
    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(once, error="repeats another row's billing period (duplicate rows)"),
            pa.Check(
                in_order, error="comes before the row above it (billing periods out of order)"
            ),
        ],
    )


_TEXT_IN_NUMBER = -np.inf  # marks a cell with text: blank cells are allowed (component not billed)


def _amounts_or_blank(values: pd.Series) -> pd.Series:
    parsed = _amounts(values)
    blank = values.astype(str).str.strip() == ""
    return parsed.where(parsed.notna() | blank, _TEXT_IN_NUMBER)


def validate_bills(
    frame: pd.DataFrame, plant: PlantConfig, source: str = "the bills table"
) -> pd.DataFrame:
    """A bills table checked and in kilowatch's units, or EtlValidationError naming every bad row.

    In: text columns `period` (YYYY-MM: the month the billing period starts in) and any of
    COMPONENTS (or their ALIASES, or UNIT_COLUMNS such as energy_mwh). Out: billing_period and
    each component given, float64 (NaN where the cell is blank).
    """
    frame = renamed(frame, ALIASES)
    factors: dict[str, float] = {}
    for name, (component, factor) in UNIT_COLUMNS.items():
        if name in frame.columns and component not in frame.columns:
            frame = renamed(frame, {name: component})
            factors[component] = factor
    components = [c for c in COMPONENTS if c in frame.columns]
    check_columns(frame, source, ["period"], one_of=[list(COMPONENTS)] if not components else [])
    explain = {"period": _explain_period}
    schema = bills_schema(components)
    checked = validate(schema, frame, source, explain)
    out = pd.DataFrame({"billing_period": checked["period"].astype(str)}, index=checked.index)
    for name in components:
        out[name] = checked[name].astype("float64") * factors.get(name, 1.0)
    return out


def _explain_period(value: str) -> str:
    return "is not a billing period such as 2026-10 (YYYY-MM)"


def bill_components(bills: Iterable[Bill]) -> pd.DataFrame:
    """kilowatch's bills as the components a utility bill shows: one row per billing period."""
    rows = []
    for bill in bills:
        row: dict[str, float | str] = {"billing_period": bill.period.label}
        for component, kinds in COMPONENTS.items():
            if kinds:
                row[component] = bill.subtotal(*kinds)  # type: ignore[arg-type]
        row["energy_kwh"] = bill.energy_kwh
        row["demand_kw"] = max((peak.peak_kw for peak in bill.peaks), default=0.0)
        row["total"] = bill.total
        rows.append(row)
    return pd.DataFrame(rows, columns=["billing_period", *COMPONENTS])


def reconcile(
    utility: pd.DataFrame,
    kilowatch: pd.DataFrame,
    threshold_percent: float = DEFAULT_THRESHOLD_PERCENT,
) -> pd.DataFrame:
    """The utility's bills against kilowatch's, per billing period and component.

    utility: validate_bills output; kilowatch: bill_components output (same columns).
    difference = kilowatch - utility; difference_percent = difference / |utility| x 100;
    flagged when |difference_percent| > threshold_percent (or, where the utility billed 0,
    when kilowatch's amount is not 0 either). Components the utility left blank are skipped.
    """
    if threshold_percent < 0:
        raise EtlError(f"the threshold must be a percentage >= 0, not {threshold_percent}")
    components = [c for c in COMPONENTS if c in utility.columns]
    left = utility.melt(
        id_vars="billing_period", value_vars=components, var_name="component", value_name="utility"
    ).dropna(subset=["utility"])
    right = kilowatch.melt(
        id_vars="billing_period",
        value_vars=[c for c in components if c in kilowatch.columns],
        var_name="component",
        value_name="kilowatch",
    )
    merged = left.merge(right, on=["billing_period", "component"], how="left")
    merged["difference"] = merged["kilowatch"] - merged["utility"]
    base = merged["utility"].abs()
    merged["difference_percent"] = (merged["difference"] / base.where(base > 0)) * 100.0
    over = merged["difference_percent"].abs() > threshold_percent
    zero_off = (base == 0) & (merged["difference"].abs() > ZERO_TOLERANCE)
    merged["flagged"] = over | zero_off | merged["kilowatch"].isna()
    merged["threshold_percent"] = float(threshold_percent)
    order = {name: k for k, name in enumerate(COMPONENTS)}
    merged["_order"] = merged["component"].map(order)
    merged = merged.sort_values(["billing_period", "_order"], ignore_index=True)
    return merged[RECONCILIATION_COLUMNS]


def reconciliation_points(reconciled: pd.DataFrame, plant: PlantConfig, read_day: int) -> list[str]:
    """Line protocol for measurement `bill_reconciliation`, at each billing period's start."""
    zone = plant.zone
    starts: dict[str, int] = {}
    for label in reconciled["billing_period"].unique():
        try:
            starts[label] = parse_period(str(label), zone, read_day).start_ts * 1_000_000_000
        except BillingError as err:
            raise EtlError(str(err)) from None
    rows = reconciled.dropna(subset=["kilowatch"]).to_dict("records")
    return reconciliation_lines(plant.id, rows, [starts[str(r["billing_period"])] for r in rows])
