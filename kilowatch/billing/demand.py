"""Demand watch: the open demand window projected to its end, and what it would cost (pure).

A plant's demand is billed on its highest window of the period (coincident: every meter
summed). While a window is still open, its end is projected from the energy stored so far plus
each meter's latest power for the time it has not reported yet; the money at stake is the
difference the billing core (`price`) makes between the bill with that window as projected and
the bill without it, this period and, through a ratchet, the later periods it reaches.
The bill-over-budget projection prices the period's usage extrapolated at the recent run rate.
Both are laid out as points of `demand_watch` and `budget_watch` by kilowatch.influx.schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from kilowatch.billing.bill import Bill, to_cents
from kilowatch.billing.compute import through_ts_for
from kilowatch.billing.errors import BillingError
from kilowatch.billing.periods import BillingPeriod, period_containing, shifted
from kilowatch.billing.pricing import peaks, price, window_demand
from kilowatch.billing.running import RunningBill
from kilowatch.billing.usage import Usage, bucket_seconds
from kilowatch.tariff import PlantTariff
from kilowatch.tariff.charges import DemandCharge

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400
# A meter silent for longer is not projected forward (it may be gone); its energy still counts.
STALE_AFTER_S = 3600
# The bill's run rate is the energy of the last week (or of the period so far, if shorter).
RUN_RATE_S = 7 * SECONDS_PER_DAY
PowerSource = Literal["measured", "linear"]


@dataclass(frozen=True, slots=True)
class MeterLatest:
    """A meter's newest reading: where its data ends and the power carried forward from there."""

    ts: int  # end of the newest reading, Unix s
    power_kw: float
    source: PowerSource  # measured: the reading's power_kw; linear: its mean power

    @classmethod
    def of(cls, ts: int, interval_s: int, energy_kwh: float, power_kw: float | None) -> MeterLatest:
        """A reading's: its power_kw if sent, else its mean power over the interval."""
        if power_kw is not None and not math.isnan(power_kw):
            return cls(int(ts), float(power_kw), "measured")
        return cls(int(ts), float(energy_kwh) * SECONDS_PER_HOUR / int(interval_s), "linear")


def latest_reading(
    ts_end: np.ndarray,
    interval_s: np.ndarray,
    energy_kwh: np.ndarray,
    power_kw: np.ndarray | None = None,
) -> MeterLatest | None:
    """One meter's newest reading of a batch; power_kw NaN or absent: the interval's mean kW."""
    if not len(ts_end):
        return None
    at = int(np.argmax(ts_end))
    power = None if power_kw is None else float(power_kw[at])
    return MeterLatest.of(int(ts_end[at]), int(interval_s[at]), float(energy_kwh[at]), power)


@dataclass(frozen=True, slots=True)
class DemandProjection:
    """One demand charge's open window, projected to its end, and the money it puts at stake."""

    plant: str
    charge: str
    billing_period: str
    currency: str
    now: int
    window_start_ts: int
    window_end_ts: int
    energy_so_far_kwh: float  # stored energy of every meter in the window
    projected_kw: float  # mean kW of the window if each meter keeps its latest power
    peak_kw: float  # highest closed window of the period counted by this charge
    billed_kw: float  # demand billed without this window (ratchet floor and cap applied)
    ratchet_kw: float | None  # the ratchet's floor this period
    limit_kw: float | None  # the plant's own limit, if configured
    demand_at_stake: float  # this period's demand line: with the window as projected minus without
    ratchet_at_stake: float  # later periods' demand lines raised by the ratchet
    money_at_stake: float  # both, with the surcharges and taxes that apply to demand
    meters_measured: int  # meters projected from their power_kw
    meters_linear: int  # from their newest reading's mean power
    meters_stale: int  # silent for over STALE_AFTER_S: not projected

    @property
    def threshold_kw(self) -> float:
        """The demand the window should stay under: the period's peak (or the ratchet's floor,
        if higher), or the plant's limit if lower still."""
        billed = max(self.peak_kw, self.ratchet_kw or 0.0)
        return billed if self.limit_kw is None else min(billed, self.limit_kw)

    @property
    def over_kw(self) -> float:
        """How far the projection goes above the threshold (negative: the headroom left)."""
        return self.projected_kw - self.threshold_kw

    @property
    def seconds_left(self) -> int:
        """Until the window closes (0: it has)."""
        return max(0, self.window_end_ts - self.now)


@dataclass(frozen=True, slots=True)
class BudgetProjection:
    """The period's bill if the rest of it runs at the recent rate, against the budget."""

    plant: str
    billing_period: str
    currency: str
    now: int
    bill_so_far: float  # as `billing`'s total: taxes included, per-day charges for days begun
    run_rate_kwh_per_day: float
    projected_kwh: float
    projected_bill: float
    budget: float | None

    @property
    def over_budget(self) -> float | None:
        """Projected bill minus the budget (None without a budget)."""
        return None if self.budget is None else to_cents(self.projected_bill - self.budget)


def open_window(plant: PlantTariff, now: int) -> tuple[int, int] | None:
    """(start, end) of the demand window that closes next after `now` (or at `now`)."""
    demand = plant.tariff.billing.demand
    if demand is None:
        return None
    step = demand.step_s
    end = -(-now // step) * step
    return end - demand.window_s, end


def demand_multiplier(plant: PlantTariff, bill: Bill | None = None) -> float:
    """What a pre-tax currency unit of demand charge costs on the bill: with the power-factor
    adjustment the bill applies to demand (CFE: a percentage of energy, demand and fixed
    charges), then the surcharges and taxes on both, as `price` adds them."""
    billing = plant.tariff.billing
    rule = billing.power_factor
    pf = 0.0  # the adjustment per unit of demand charge
    if bill is not None and rule is not None and "demand" in rule.applies_to:
        pf = sum(
            line.price / 100
            for line in bill.lines
            if line.kind == "power_factor" and line.unit == "%"
        )

    def share(applies_to: Sequence[str]) -> float:
        """The part of a unit of demand charge (and its adjustment) in these components."""
        return ("demand" in applies_to) + pf * ("power_factor" in applies_to)

    surcharges = sum(s.percent / 100 * share(s.applies_to) for s in billing.surcharges)
    taxes = sum(t.percent / 100 * share(t.applies_to) for t in billing.taxes)
    return (1 + pf + surcharges) * (1 + plant.tariff.tax_percent / 100) + taxes


def project_demand(
    plant: PlantTariff,
    plant_id: str,
    now: int,
    usage: Usage,
    prior_peaks: Sequence[dict[str, float]],
    meters: Mapping[str, MeterLatest],
    *,
    limit_kw: float | None = None,
    stale_after_s: int = STALE_AFTER_S,
) -> list[DemandProjection]:
    """The open window of every demand charge counting it, projected (see the module doc);
    the period's energy is extrapolated to its end (`extrapolated`) for load-factor caps.

    `usage`: the plant's usage of the billing period holding the window, every meter stored so
    far; `prior_peaks`: earlier periods' peaks(), oldest first (as `price` takes them).
    A window that straddles the period's start counts for no period: nothing is projected.
    """
    demand = plant.tariff.billing.demand
    window = open_window(plant, now)
    if demand is None or window is None:
        return []
    start, end = window
    period = period_containing(end - 1, plant.zone, plant.tariff.billing.read_day)
    if start < period.start_ts:
        return []
    step = bucket_seconds(plant)
    inside = (usage.bucket_start >= start) & (usage.bucket_start < end)
    so_far_kwh = float(usage.bucket_kwh[inside].sum())
    rest_kwh = 0.0
    counts = {"measured": 0, "linear": 0, "stale": 0}
    for latest in meters.values():
        if latest.ts < now - stale_after_s:
            counts["stale"] += 1
            continue
        counts[latest.source] += 1
        rest_kwh += latest.power_kw * max(0, end - max(latest.ts, start)) / SECONDS_PER_HOUR
    projected_kwh = so_far_kwh + rest_kwh
    # Both bills see the period's whole energy at the recent rate (a load-factor cap is then
    # the period end's) and differ only in the window: without it, its energy is taken out of
    # the buckets; with it, the projected energy is in its last bucket (a fixed window's only).
    whole = extrapolated(usage, period, now)[0]
    without = replace(
        whole, bucket_start=usage.bucket_start[~inside], bucket_kwh=usage.bucket_kwh[~inside]
    )
    last = np.array([end - step], dtype=np.int64)
    order = np.argsort(np.concatenate([without.bucket_start, last]), kind="stable")
    with_window = replace(
        whole,
        bucket_start=np.concatenate([without.bucket_start, last])[order],
        bucket_kwh=np.concatenate([without.bucket_kwh, [projected_kwh]])[order],
    )
    before = price(plant, period, without, prior_peaks=prior_peaks)
    after = price(plant, period, with_window, prior_peaks=prior_peaks)
    # The window's time-of-use period, as the bill decides it (a charge's `periods`).
    windows = window_demand(plant, period, with_window)
    window_period = str(windows.period[windows.end_ts == end][0])
    # The later periods the ratchet reaches are taken at this period's power factor.
    multiplier = demand_multiplier(plant, after)
    ratchets = any(charge.ratchet is not None for charge in demand.charges)
    peaks_without = peaks(plant, period, without) if ratchets else {}
    peaks_with = peaks(plant, period, with_window) if ratchets else {}
    out = []
    for charge in demand.charges:
        if charge.months is not None and period.month not in charge.months:
            continue
        if charge.periods is not None and window_period not in charge.periods:
            continue
        peak_before = next(p for p in before.peaks if p.charge == charge.name)
        this_period = to_cents(_demand_line(after, charge) - _demand_line(before, charge))
        reach = _ratchet_reach(plant, period, charge, prior_peaks, peaks_without, peaks_with)
        out.append(
            DemandProjection(
                plant=plant_id,
                charge=charge.name,
                billing_period=period.label,
                currency=plant.tariff.currency,
                now=now,
                window_start_ts=start,
                window_end_ts=end,
                energy_so_far_kwh=so_far_kwh,
                projected_kw=projected_kwh * SECONDS_PER_HOUR / demand.window_s,
                peak_kw=peak_before.peak_kw,
                billed_kw=peak_before.billed_kw,
                ratchet_kw=peak_before.ratchet_kw,
                limit_kw=limit_kw,
                demand_at_stake=this_period,
                ratchet_at_stake=reach,
                money_at_stake=to_cents((this_period + reach) * multiplier),
                meters_measured=counts["measured"],
                meters_linear=counts["linear"],
                meters_stale=counts["stale"],
            )
        )
    return out


def _demand_line(bill: Bill, charge: DemandCharge) -> float:
    """The amount of a charge's demand line (0 where the bill has none)."""
    return sum(
        line.amount for line in bill.lines if line.kind == "demand" and line.label == charge.name
    )


def _ratchet_reach(
    plant: PlantTariff,
    period: BillingPeriod,
    charge: DemandCharge,
    prior_peaks: Sequence[dict[str, float]],
    peaks_without: dict[str, float],
    peaks_with: dict[str, float],
) -> float:
    """How much the window raises the later periods' demand lines through the ratchet.

    Each later period the ratchet reaches is priced with no usage of its own (its demand stays
    under the floor, the case where the ratchet bills), once with and once without the window.
    """
    if charge.ratchet is None:
        return 0.0
    if peaks_with.get(charge.name, 0.0) <= peaks_without.get(charge.name, 0.0):
        return 0.0
    months = charge.ratchet.months
    history = list(prior_peaks[-months:])
    history = [{}] * (months - len(history)) + history
    empty = Usage.empty(len(plant.periods))
    zone, read_day = plant.zone, plant.tariff.billing.read_day
    total = 0.0
    for k in range(1, months + 1):
        later = shifted(period, k, zone, read_day)
        if charge.months is not None and later.month not in charge.months:
            continue
        gap: list[dict[str, float]] = [{}] * (k - 1)  # periods in between: unknown yet
        old = price(plant, later, empty, prior_peaks=[*history[k:], peaks_without, *gap])
        new = price(plant, later, empty, prior_peaks=[*history[k:], peaks_with, *gap])
        total += _demand_line(new, charge) - _demand_line(old, charge)
    return to_cents(total)


def extrapolated(
    usage: Usage, period: BillingPeriod, now: int, run_rate_s: int = RUN_RATE_S
) -> tuple[Usage, float]:
    """The period's usage if the rest of it runs at the recent rate, and that rate (kWh/s).

    The rest is the energy of the last `run_rate_s` (or of the period so far) per second, at the
    period's mix of time-of-use periods; the energy buckets are left as they are, so it sets no
    new demand peak. A load-factor cap then sees the period's whole energy, as the bill will.
    """
    span = max(1, min(run_rate_s, now - period.start_ts))
    recent = usage.bucket_start >= now - span
    rate_kwh_per_s = float(usage.bucket_kwh[recent].sum()) / span
    total = usage.total_kwh
    rest = rate_kwh_per_s * max(0, period.end_ts - now)
    return usage.scaled((total + rest) / total if total > 0 else 1.0), rate_kwh_per_s


def project_bill(
    plant: PlantTariff,
    plant_id: str,
    now: int,
    usage: Usage,
    prior_peaks: Sequence[dict[str, float]],
    *,
    budget: float | None = None,
    run_rate_s: int = RUN_RATE_S,
    last_reading_ts: int | None = None,
) -> BudgetProjection:
    """The bill so far and the period's bill if the rest runs at the recent rate (the billing
    core prices both; see `extrapolated`). The bill so far is priced through `last_reading_ts`
    (the end of the period's newest reading), as `kilowatch bill` and `billing` price it."""
    period = period_containing(now, plant.zone, plant.tariff.billing.read_day)
    through = through_ts_for(period, last_reading_ts, now)
    so_far = price(plant, period, usage, prior_peaks=prior_peaks, through_ts=through)
    whole, rate_kwh_per_s = extrapolated(usage, period, now, run_rate_s)
    projected = price(plant, period, whole, prior_peaks=prior_peaks)
    return BudgetProjection(
        plant=plant_id,
        billing_period=period.label,
        currency=plant.tariff.currency,
        now=now,
        bill_so_far=so_far.total,
        run_rate_kwh_per_day=rate_kwh_per_s * SECONDS_PER_DAY,
        projected_kwh=whole.total_kwh,
        projected_bill=projected.total,
        budget=budget,
    )


class DemandWatch:
    """A plant's demand and budget projections, on the running bill that the readings feed.

    The running bill holds the stored energy; this keeps only each meter's newest reading.
    """

    def __init__(
        self,
        running: RunningBill,
        *,
        limit_kw: float | None = None,
        budget: float | None = None,
        stale_after_s: int = STALE_AFTER_S,
    ) -> None:
        if limit_kw is not None and limit_kw <= 0:
            raise BillingError(f"the demand limit must be above 0 kW, got {limit_kw}")
        self.running = running
        self.limit_kw = limit_kw
        self.budget = budget
        self.stale_after_s = stale_after_s
        self._latest: dict[str, MeterLatest] = {}

    def observe(
        self,
        meter: str,
        ts_end: np.ndarray,
        interval_s: np.ndarray,
        energy_kwh: np.ndarray,
        power_kw: np.ndarray | None = None,
    ) -> None:
        """Note a meter's stored readings (the running bill counts their energy itself)."""
        latest = latest_reading(ts_end, interval_s, energy_kwh, power_kw)
        if latest is not None:
            self.note(meter, latest)

    def note(self, meter: str, latest: MeterLatest) -> None:
        """Note a meter's newest stored reading (an older one than known changes nothing)."""
        known = self._latest.get(meter)
        if known is None or latest.ts >= known.ts:
            self._latest[meter] = latest

    def project(self, now: int) -> tuple[list[DemandProjection], BudgetProjection]:
        """The open window of each demand charge projected, and the bill projected against the
        budget (the plant's usage merged once for both)."""
        plant = self.running.plant
        zone, read_day = plant.zone, plant.tariff.billing.read_day
        usages: dict[str, tuple[Usage, list[dict[str, float]]]] = {}

        def usage(period: BillingPeriod) -> tuple[Usage, list[dict[str, float]]]:
            if period.label not in usages:
                usages[period.label] = (
                    self.running.usage(period.label),
                    self.running.prior_peaks(period),
                )
            return usages[period.label]

        demand: list[DemandProjection] = []
        window = open_window(plant, now)
        if window is not None:
            window_period = period_containing(window[1] - 1, zone, read_day)
            demand = project_demand(
                plant,
                self.running.plant_id,
                now,
                *usage(window_period),
                self._latest,
                limit_kw=self.limit_kw,
                stale_after_s=self.stale_after_s,
            )
        current = period_containing(now, zone, read_day)
        bill = project_bill(
            plant,
            self.running.plant_id,
            now,
            *usage(current),
            budget=self.budget,
            last_reading_ts=self.running.last_reading_ts(current),
        )
        return demand, bill

    def demand(self, now: int) -> list[DemandProjection]:
        """The open window of each demand charge, projected."""
        return self.project(now)[0]

    def bill(self, now: int) -> BudgetProjection:
        """The period's bill projected at the recent run rate, against the budget."""
        return self.project(now)[1]
