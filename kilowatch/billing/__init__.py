"""Billing-grade costs: bills per billing period, the running bill, re-costing, URDB import.

See kilowatch/billing/README.md.
"""

from __future__ import annotations

from kilowatch.billing.bill import Bill, BillLine, DemandPeak
from kilowatch.billing.compute import compute_bill, compute_bills, lookback_months
from kilowatch.billing.errors import BillingError
from kilowatch.billing.periods import BillingPeriod, parse_period, period_containing
from kilowatch.billing.pricing import price, window_demand
from kilowatch.billing.running import BillingPoint, RunningBill
from kilowatch.billing.usage import Usage, usage_by_period

__all__ = [
    "Bill",
    "BillLine",
    "BillingError",
    "BillingPeriod",
    "BillingPoint",
    "DemandPeak",
    "RunningBill",
    "Usage",
    "compute_bill",
    "compute_bills",
    "lookback_months",
    "parse_period",
    "period_containing",
    "price",
    "usage_by_period",
    "window_demand",
]
