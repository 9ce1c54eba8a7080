"""Pricing: a billing period's usage in, the bill out (pure; the one place bills are priced)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kilowatch.billing.bill import Bill, BillLine, DemandPeak, to_cents
from kilowatch.billing.periods import BillingPeriod
from kilowatch.billing.usage import Usage, bucket_seconds
from kilowatch.tariff import PlantTariff
from kilowatch.tariff.charges import Component, Demand, DemandCharge, PowerFactor

SECONDS_PER_HOUR = 3600
# Energy below this (a microwatt-hour) gets no bill line: it rounds to nothing and its price
# per kWh would be noise.
MIN_KWH = 1e-9
HOURS_PER_DAY = 24


@dataclass(frozen=True, slots=True)
class WindowDemand:
    """Every demand window of a period: its end, mean kW and TOU period (for charges, charts)."""

    end_ts: np.ndarray  # int64
    kw: np.ndarray  # float64
    period: np.ndarray  # object (str)


def window_demand(plant: PlantTariff, period: BillingPeriod, usage: Usage) -> WindowDemand:
    """Mean kW of every window that starts inside the period (windows with no energy: 0 kW)."""
    demand = plant.tariff.billing.demand
    window_s = demand.window_s if demand is not None else bucket_seconds(plant)
    step = bucket_seconds(plant)
    first = -(-period.start_ts // step)
    last = (period.end_ts - window_s) // step  # the last window must end inside the period
    if last < first:
        empty = np.zeros(0, dtype=np.int64)
        return WindowDemand(empty, np.zeros(0), np.zeros(0, dtype=object))
    dense = np.zeros(last - first + window_s // step)
    index = usage.bucket_start // step - first
    keep = (index >= 0) & (index < len(dense))
    np.add.at(dense, index[keep], usage.bucket_kwh[keep])
    per_window = window_s // step
    sums = np.concatenate([[0.0], np.cumsum(dense)])
    window_kwh = sums[per_window:] - sums[:-per_window]
    starts = (np.arange(len(window_kwh), dtype=np.int64) + first) * step
    ends = starts + window_s
    periods = plant.cost_many(ends, np.full(len(ends), window_s), np.zeros(len(ends))).period
    return WindowDemand(ends, window_kwh * SECONDS_PER_HOUR / window_s, periods)


def peaks(plant: PlantTariff, period: BillingPeriod, usage: Usage) -> dict[str, float]:
    """Each demand charge's highest window kW in the period (what a ratchet remembers)."""
    demand = plant.tariff.billing.demand
    if demand is None or not usage.readings:
        return {}  # a period without readings is unknown, not a zero peak
    windows = window_demand(plant, period, usage)
    return {c.name: _peak(c, windows)[0] for c in demand.charges}


def _peak(charge: DemandCharge, windows: WindowDemand) -> tuple[float, int | None]:
    mask = np.ones(len(windows.kw), dtype=bool)
    if charge.periods is not None:
        mask = np.isin(windows.period, list(charge.periods))
    if not mask.any():
        return 0.0, None
    chosen = np.flatnonzero(mask)
    best = chosen[int(np.argmax(windows.kw[chosen]))]  # first of equal peaks
    return float(windows.kw[best]), int(windows.end_ts[best])


def price(
    plant: PlantTariff,
    period: BillingPeriod,
    usage: Usage,
    *,
    prior_peaks: Sequence[dict[str, float]] = (),
    account: bool = True,
    scope: str = "",
    through_ts: int | None = None,
) -> Bill:
    """The bill of one period; `prior_peaks`: earlier periods' peaks(), oldest first (ratchets).

    `account=False` prices a meter alone: no fixed charges and no minimum bill. `through_ts`
    (a period in progress): the bill so far, up to that instant: per-day charges for the days
    begun and the load-factor cap over the hours elapsed, not the whole period's.
    """
    tariff = plant.tariff
    billing = tariff.billing
    lines: list[BillLine] = []
    notes: list[str] = []
    elapsed_s: int | None = None  # None: the whole period
    days = period.days
    if through_ts is not None and through_ts < period.end_ts:
        elapsed_s = max(1, through_ts - period.start_ts)
        days = min(period.days, math.ceil(elapsed_s / 86_400))
    tier = _energy_lines(plant, usage, lines)
    demand_peaks: list[DemandPeak] = []
    if billing.demand is not None:
        demand_peaks = _demand_lines(
            plant, billing.demand, period, usage, prior_peaks, lines, notes, elapsed_s
        )
    if account:
        for charge in billing.fixed:
            if charge.per_period is not None:
                lines.append(
                    BillLine(
                        "fixed",
                        charge.name,
                        1,
                        "period",
                        charge.per_period,
                        to_cents(charge.per_period),
                    )
                )
            elif charge.per_day is not None:
                amount = to_cents(charge.per_day * days)
                lines.append(BillLine("fixed", charge.name, days, "day", charge.per_day, amount))
    pf = _power_factor(usage)
    if billing.power_factor is not None:
        _power_factor_line(billing.power_factor, pf, usage, lines, notes)
    if account and billing.minimum_bill is not None:
        subtotal = _sum(lines)
        if subtotal < billing.minimum_bill:
            shortfall = to_cents(billing.minimum_bill - subtotal)
            lines.append(BillLine("minimum", "minimum bill", 1, "period", shortfall, shortfall))
    for surcharge in billing.surcharges:
        base = _sum(line for line in lines if line.kind in _kinds(surcharge.applies_to))
        amount = to_cents(base * surcharge.percent / 100)
        lines.append(BillLine("surcharge", surcharge.name, base, "%", surcharge.percent, amount))
    pretax = list(lines)
    if tariff.tax_percent:
        base = _sum(pretax)
        amount = to_cents(base * tariff.tax_percent / 100)
        lines.append(BillLine("tax", "tax", base, "%", tariff.tax_percent, amount))
    for tax in billing.taxes:
        base = _sum(line for line in pretax if line.kind in _kinds(tax.applies_to))
        amount = to_cents(base * tax.percent / 100)
        lines.append(BillLine("tax", tax.name, base, "%", tax.percent, amount))
    return Bill(
        scope=scope,
        tariff=tariff.key,
        currency=tariff.currency,
        period=period,
        lines=tuple(lines),
        energy_kwh=usage.total_kwh,
        readings=usage.readings,
        peaks=tuple(demand_peaks),
        power_factor=pf,
        tier=tier,
        notes=tuple(notes),
    )


def _sum(lines: object) -> float:
    return to_cents(sum(line.amount for line in lines))  # type: ignore[attr-defined]


def _kinds(components: Sequence[Component]) -> set[str]:
    """Bill line kinds of tariff components (the minimum-bill top-up counts as fixed)."""
    kinds: set[str] = set(components)
    if "fixed" in kinds:
        kinds.add("minimum")
    return kinds


def _energy_lines(plant: PlantTariff, usage: Usage, lines: list[BillLine]) -> int | None:
    """Energy by period (and tier); returns the tier the total reached, if tiered."""
    names = plant.periods
    tiers = plant.tariff.billing.energy_tiers
    if tiers is None:
        for p, name in enumerate(names):
            if usage.kwh[p] > MIN_KWH:
                _energy_line(lines, f"energy {name}", usage.kwh[p], usage.pretax[p])
        return None
    limits = [0.0] + [t.up_to_kwh or math.inf for t in tiers.tiers]
    total = usage.total_kwh
    for p, name in enumerate(names):
        kwh = usage.kwh[p]
        if kwh <= MIN_KWH:
            continue
        counted = total if tiers.counted == "total" else kwh
        for t, tier in enumerate(tiers.tiers):
            portion = min(max(counted, limits[t]), limits[t + 1]) - limits[t]
            if portion <= 0:
                continue
            share = kwh * portion / counted
            if share <= MIN_KWH:
                continue
            rate = tier.rates.get(name)
            amount = share * rate if rate is not None else usage.pretax[p] * portion / counted
            _energy_line(lines, f"energy {name} tier {t + 1}", share, amount)
    reached = total if tiers.counted == "total" else float(usage.kwh.max(initial=0.0))
    return next(t + 1 for t in range(len(tiers.tiers)) if reached <= limits[t + 1])


def _energy_line(lines: list[BillLine], label: str, kwh: float, amount: float) -> None:
    lines.append(
        BillLine("energy", label, float(kwh), "kWh", float(amount / kwh), to_cents(amount))
    )


def _demand_lines(
    plant: PlantTariff,
    demand: Demand,
    period: BillingPeriod,
    usage: Usage,
    prior_peaks: Sequence[dict[str, float]],
    lines: list[BillLine],
    notes: list[str],
    elapsed_s: int | None,
) -> list[DemandPeak]:
    windows = window_demand(plant, period, usage)
    found = []
    for charge in demand.charges:
        if charge.months is not None and period.month not in charge.months:
            continue
        peak, when = _peak(charge, windows)
        billed = peak
        cap = None
        if charge.load_factor_cap is not None:
            # The whole period: calendar days (as utilities count them, DST or not).
            hours = (
                HOURS_PER_DAY * period.days if elapsed_s is None else elapsed_s / SECONDS_PER_HOUR
            )
            cap = usage.total_kwh / (hours * charge.load_factor_cap)
            if cap < billed:
                notes.append(
                    f"{charge.name}: billed {cap:,.1f} kW, not the {peak:,.1f} kW peak: the "
                    f"tariff caps demand at the energy ({usage.total_kwh:,.0f} kWh) over "
                    f"{hours:,.0f} h at a load factor of {charge.load_factor_cap:g}"
                )
            billed = min(billed, cap)
        floor = None
        if charge.ratchet is not None:
            lookback = prior_peaks[-charge.ratchet.months :]
            earlier = [p[charge.name] for p in lookback if charge.name in p]
            if len(earlier) < charge.ratchet.months:
                notes.append(
                    f"{charge.name}: the ratchet looks back {charge.ratchet.months} billing "
                    f"periods; only {len(earlier)} have readings"
                )
            floor = max(earlier, default=0.0) * charge.ratchet.percent / 100
            billed = max(billed, floor)
        found.append(
            DemandPeak(charge.name, peak, when, billed, floor, cap, charge.load_factor_cap)
        )
        lines.append(
            BillLine(
                "demand", charge.name, billed, "kW", charge.per_kw, to_cents(billed * charge.per_kw)
            )
        )
    return found


def _power_factor(usage: Usage) -> float | None:
    """The period's power factor from the readings that carry reactive energy."""
    kwh, kvarh = usage.kwh_with_kvarh, usage.kvarh
    if kwh <= MIN_KWH:
        return None
    return kwh / math.hypot(kwh, kvarh)


def _power_factor_line(
    rule: PowerFactor, pf: float | None, usage: Usage, lines: list[BillLine], notes: list[str]
) -> None:
    if pf is None:
        notes.append("power factor: no reading carries reactive_kvarh; no adjustment")
        return
    if rule.per_excess_kvarh is not None and rule.free_kvarh_per_kwh is not None:
        excess = max(0.0, usage.kvarh - rule.free_kvarh_per_kwh * usage.kwh_with_kvarh)
        if excess > 0:
            amount = to_cents(excess * rule.per_excess_kvarh)
            lines.append(
                BillLine(
                    "power_factor",
                    "excess reactive energy",
                    excess,
                    "kvarh",
                    rule.per_excess_kvarh,
                    amount,
                )
            )
        return
    percent = 0.0
    label = ""
    if rule.penalty is not None and pf < rule.penalty.threshold:
        percent = min(
            rule.penalty.factor * (rule.penalty.threshold / pf - 1) * 100, rule.penalty.max_percent
        )
        label = f"power factor {pf:.4f} penalty"
    elif rule.bonus is not None and pf >= rule.bonus.threshold:
        percent = -min(
            rule.bonus.factor * (1 - rule.bonus.threshold / pf) * 100, rule.bonus.max_percent
        )
        label = f"power factor {pf:.4f} bonus"
    if percent:
        base = _sum(line for line in lines if line.kind in _kinds(rule.applies_to))
        lines.append(
            BillLine("power_factor", label, base, "%", percent, to_cents(base * percent / 100))
        )
