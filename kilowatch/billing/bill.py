"""A bill as plain data: its lines (what a utility bill shows), demand peaks and totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from kilowatch.billing.periods import BillingPeriod

LineKind = Literal["energy", "demand", "fixed", "minimum", "power_factor", "surcharge", "tax"]
CENT = Decimal("0.01")


def to_cents(amount: float) -> float:
    """Round half up to the cent, as bills print amounts."""
    return float(Decimal(repr(float(amount))).quantize(CENT, rounding=ROUND_HALF_UP))


def tidy(value: float, digits: int = 10) -> float:
    """A float without binary noise (0.9408000000000003 -> 0.9408), for output only: a price
    as the tariff writes it, a sum to far more digits than a meter resolves."""
    return float(f"{value:.{digits}g}")


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
    load_factor: float | None = None  # the cap's load factor, when the tariff has one


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
    plant: str = ""
    meter: str | None = None  # None: the whole plant (the account)
    coverage: Coverage | None = None  # None: not known (a bill priced from usage alone)

    @property
    def total(self) -> float:
        """The sum of the lines, to the cent."""
        return to_cents(sum(line.amount for line in self.lines))

    def subtotal(self, *kinds: LineKind) -> float:
        """The sum of the lines of these kinds."""
        return to_cents(sum(line.amount for line in self.lines if line.kind in kinds))

    @property
    def final(self) -> bool:
        """False for a period still in progress: a bill so far, not the bill."""
        return self.coverage is None or not self.coverage.in_progress

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every line, the peaks, totals per kind and the total (numbers rounded to
        what they mean: cents, Wh, W, prices as the tariff writes them)."""
        kinds: dict[str, float] = {}
        for line in self.lines:
            kinds[line.kind] = to_cents(kinds.get(line.kind, 0.0) + line.amount)
        return {
            "plant": self.plant,
            "meter": self.meter,
            "tariff": self.tariff,
            "currency": self.currency,
            "period": self.period.label,
            "from": self.period.first_day.isoformat(),
            "to_excluded": self.period.next_first_day.isoformat(),
            "days": self.period.days,
            "final": self.final,
            "coverage": None if self.coverage is None else self.coverage.to_dict(),
            "readings": self.readings,
            "energy_kwh": round(self.energy_kwh, 3),
            "power_factor": None if self.power_factor is None else round(self.power_factor, 4),
            "tier": self.tier,
            "lines": [line_dict(line) for line in self.lines],
            "peaks": [peak_dict(peak) for peak in self.peaks],
            "by_kind": kinds,
            "total": self.total,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the period the readings reach: a period in progress gives a bill so far."""

    through_ts: int  # the end of the last reading in the period
    days_covered: float  # days of the period that readings cover (gaps excluded)
    in_progress: bool  # the period has not ended: more readings will come
    projected_total: float | None = None  # the whole period's bill at the pace so far

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "through_ts": self.through_ts,
            "days_covered": round(self.days_covered, 2),
            "in_progress": self.in_progress,
            "projected_total": self.projected_total,
        }


def line_dict(line: BillLine) -> dict[str, Any]:
    """A bill line for JSON: a percentage line gives its base (money) apart from its quantity."""
    percent = line.unit == "%"
    digits = 2 if line.unit in ("day", "period") else 3
    return {
        "kind": line.kind,
        "label": line.label,
        "quantity": None if percent else round(line.quantity, digits),
        "unit": line.unit,
        # A computed percentage (power factor) to 4 decimals; a price as the tariff writes it.
        "price": round(line.price, 4) if percent else tidy(line.price),
        "base": to_cents(line.quantity) if percent else None,
        "amount": line.amount,
    }


def peak_dict(peak: DemandPeak) -> dict[str, Any]:
    """A demand peak for JSON, kW to the watt."""
    return {
        "charge": peak.charge,
        "peak_kw": round(peak.peak_kw, 3),
        "peak_window_end_ts": peak.peak_window_end_ts,
        "billed_kw": round(peak.billed_kw, 3),
        "ratchet_kw": None if peak.ratchet_kw is None else round(peak.ratchet_kw, 3),
        "cap_kw": None if peak.cap_kw is None else round(peak.cap_kw, 3),
        "load_factor": peak.load_factor,
    }
