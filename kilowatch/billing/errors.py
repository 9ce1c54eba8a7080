"""The billing component's one exception."""

from __future__ import annotations


class BillingError(ValueError):
    """A bill, re-costing or import that cannot be done; the message says what to fix."""
