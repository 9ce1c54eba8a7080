"""A bill as plain data: its lines (what a utility bill shows), demand peaks and totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from kilowatch.billing.periods import BillingPeriod

LineKind = Literal["energy", "demand", "fixed", "minimum", "power_factor", "surcharge", "tax"]
CENT = Decimal("0.01")


def to_cents(amount: float) -> float:
    """Round half up to the cent, as bills print amounts."""
    return float(Decimal(repr(float(amount))).quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of the bill: `amount` (rounded to the cent) = quantity x unit price."""

    kind: LineKind
    label: str
    quantity: float
    unit: str  # kWh, kW, day, period, %, kvarh
    price: float  # per unit (for "%": the percentage)
    amount: float


@dataclass(frozen=True, slots=True)
class DemandPeak:
    """A demand charge's highest window of the period and the demand billed for it."""

    charge: str
    peak_kw: float
    peak_window_end_ts: int | None  # None: no window counted (no readings in its periods)
    billed_kw: float
    ratchet_kw: float | None = None  # the ratchet's floor, when the tariff has one
    cap_kw: float | None = None  # the load-factor cap, when the tariff has one


@dataclass(frozen=True, slots=True)
class Bill:
    """A plant's (or one meter's) bill for one billing period."""

    scope: str  # "plant P" or "meter M of plant P"
    tariff: str  # id@version
    currency: str
    period: BillingPeriod
    lines: tuple[BillLine, ...]
    energy_kwh: float
    readings: int
    peaks: tuple[DemandPeak, ...] = ()
    power_factor: float | None = None
    tier: int | None = None  # tier the period's total kWh reached (1-based)
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> float:
        """The sum of the lines, to the cent."""
        return to_cents(sum(line.amount for line in self.lines))

    def subtotal(self, *kinds: LineKind) -> float:
        """The sum of the lines of these kinds."""
        return to_cents(sum(line.amount for line in self.lines if line.kind in kinds))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every line, the peaks, totals per kind and the total."""
        kinds: dict[str, float] = {}
        for line in self.lines:
            kinds[line.kind] = to_cents(kinds.get(line.kind, 0.0) + line.amount)
        return {
            "scope": self.scope,
            "tariff": self.tariff,
            "currency": self.currency,
            "period": self.period.label,
            "from": self.period.first_day.isoformat(),
            "to_excluded": self.period.next_first_day.isoformat(),
            "days": self.period.days,
            "readings": self.readings,
            "energy_kwh": self.energy_kwh,
            "power_factor": self.power_factor,
            "tier": self.tier,
            "lines": [asdict(line) for line in self.lines],
            "peaks": [asdict(peak) for peak in self.peaks],
            "by_kind": kinds,
            "total": self.total,
            "notes": list(self.notes),
        }
