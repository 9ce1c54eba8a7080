"""ETLs for the data clients send: production volumes, utility bills (CSV, Excel, Green
Button), and energy performance indicators. See docs/etl.md.

Pure functions (DataFrames in and out; the same ones run as Step Functions tasks):
validate_production, production_points, daily_production, energy_intensity, intensity_points,
validate_bills, bill_components, reconcile, reconciliation_points, parse_greenbutton,
validate_intervals, intervals_points, validate_enpi, enpi.
"""

from __future__ import annotations

from kilowatch.etl.bills import bill_components, reconcile, reconciliation_points, validate_bills
from kilowatch.etl.errors import EtlError, EtlValidationError, Problem
from kilowatch.etl.greenbutton import intervals_points, parse_greenbutton, validate_intervals
from kilowatch.etl.indicators import EnpiResult, enpi, validate_enpi
from kilowatch.etl.production import (
    daily_production,
    energy_intensity,
    intensity_points,
    production_points,
    validate_production,
)

__all__ = [
    "EnpiResult",
    "EtlError",
    "EtlValidationError",
    "Problem",
    "bill_components",
    "daily_production",
    "energy_intensity",
    "enpi",
    "intensity_points",
    "intervals_points",
    "parse_greenbutton",
    "production_points",
    "reconcile",
    "reconciliation_points",
    "validate_bills",
    "validate_enpi",
    "validate_intervals",
    "validate_production",
]
