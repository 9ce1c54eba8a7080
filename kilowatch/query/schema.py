"""The names the queries read, from the one schema module (kilowatch.influx.schema)."""

from __future__ import annotations

from kilowatch.influx.schema import BILLING, BILLING_TAGS, ENERGY, ENERGY_FIELDS, ENERGY_TAGS

__all__ = ["BILLING", "ENERGY"]

# The tags a query may group or filter by, in the order people think of them.
GROUP_TAGS = tuple(tag for tag in ("plant", "line", "meter", "period") if tag in ENERGY_TAGS)
SUMMABLE_FIELDS = tuple(field for field in ("energy_kwh", "cost") if field in ENERGY_FIELDS)
INTERVAL_FIELD = "interval_s"
assert INTERVAL_FIELD in ENERGY_FIELDS

SCOPE_TAG, BILLING_PERIOD_TAG = "scope", "billing_period"
assert {SCOPE_TAG, BILLING_PERIOD_TAG} <= set(BILLING_TAGS)
SCOPE_PLANT, SCOPE_METER = "plant", "meter"  # the values of `scope`
