"""Bills from readings: a DataFrame of readings in, priced billing periods out (pure)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from kilowatch.billing.bill import Bill, Coverage
from kilowatch.billing.errors import BillingError
from kilowatch.billing.periods import BillingPeriod, parse_period, shifted
from kilowatch.billing.pricing import peaks, price
from kilowatch.billing.usage import Usage, usage_by_period
from kilowatch.tariff import PlantTariff

REQUIRED_COLUMNS = ("ts", "interval_s", "energy_kwh")


def lookback_months(plant: PlantTariff) -> int:
    """How many earlier billing periods a bill needs (the longest ratchet)."""
    demand = plant.tariff.billing.demand
    if demand is None:
        return 0
    return max((c.ratchet.months for c in demand.charges if c.ratchet is not None), default=0)


def resolve_period(plant: PlantTariff, period: str | BillingPeriod) -> BillingPeriod:
    """A label such as '2026-10' as the tariff's billing period in the plant's timezone."""
    if isinstance(period, BillingPeriod):
        return period
    return parse_period(period, plant.zone, plant.tariff.billing.read_day)


def through_ts_for(period: BillingPeriod, last_end_ts: int | None, now: float | None) -> int | None:
    """What `price` takes as `through_ts`: the end of the period's last reading while the
    period is in progress at `now`; None (the whole period) once it has ended, or without now."""
    if now is None or now >= period.end_ts:
        return None
    return last_end_ts


def compute_bill(
    plant: PlantTariff,
    readings: pd.DataFrame,
    period: str | BillingPeriod,
    *,
    account: bool = True,
    scope: str = "",
    now: float | None = None,
) -> Bill:
    """The bill of `period` from readings (every meter in them adds up, demand coincident).

    `readings` has columns ts (end of interval, Unix s), interval_s, energy_kwh and optionally
    reactive_kvarh; readings of the `lookback_months` earlier periods feed the ratchets. With
    `now`, a period not yet ended gives the bill so far with a projection (Bill.coverage).
    """
    return compute_bills(plant, readings, [period], account=account, scope=scope, now=now)[0]


def compute_bills(
    plant: PlantTariff,
    readings: pd.DataFrame,
    periods: list[str | BillingPeriod],
    *,
    account: bool = True,
    scope: str = "",
    now: float | None = None,
) -> list[Bill]:
    """Bills of several consecutive periods in one vectorised pass (see compute_bill)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in readings.columns]
    if missing:
        raise BillingError(f"readings lack the column(s) {', '.join(missing)}")
    targets = [resolve_period(plant, p) for p in periods]
    back = lookback_months(plant)
    read_day = plant.tariff.billing.read_day
    span = [shifted(targets[0], -k, plant.zone, read_day) for k in range(back, 0, -1)]
    span += [shifted(targets[0], k, plant.zone, read_day) for k in range(len(targets))]
    if [p.label for p in span[back:]] != [p.label for p in targets]:
        raise BillingError("periods must be consecutive billing periods, in order")
    ts = readings["ts"].to_numpy(np.int64)
    interval_s = readings["interval_s"].to_numpy(np.int64)
    energy = readings["energy_kwh"].to_numpy(np.float64)
    kvarh = (
        readings["reactive_kvarh"].to_numpy(np.float64) if "reactive_kvarh" in readings else None
    )
    # Sums in one fixed order: readings given in any order make the same bill, to the bit.
    order = np.lexsort(
        (energy, interval_s, ts) if kvarh is None else (kvarh, energy, interval_s, ts)
    )
    usages = usage_by_period(
        plant,
        span,
        ts[order],
        interval_s[order],
        energy[order],
        None if kvarh is None else kvarh[order],
    )
    history = [peaks(plant, p, u) for p, u in zip(span, usages, strict=True)] if back else []
    bills = []
    for k, target in enumerate(targets):
        index = back + k
        prior = history[index - back : index]
        inside = ts[(ts > target.start_ts) & (ts <= target.end_ts)]
        through = int(inside.max()) if len(inside) else None
        in_progress = now is not None and now < target.end_ts
        bill = price(
            plant,
            target,
            usages[index],
            prior_peaks=prior,
            account=account,
            scope=scope,
            through_ts=through_ts_for(target, through, now),
        )
        if through is not None:
            projected = None
            if in_progress:
                whole = _at_the_same_pace(usages[index], target, through)
                projected = price(plant, target, whole, prior_peaks=prior, account=account).total
            inside_mask = (ts > target.start_ts) & (ts <= target.end_ts)
            covered = _days_with_readings(
                ts[inside_mask], interval_s[inside_mask], target.start_ts, target.end_ts
            )
            bill = replace(bill, coverage=Coverage(through, covered, in_progress, projected))
        bills.append(bill)
    return bills


def _days_with_readings(
    ts: np.ndarray, interval_s: np.ndarray, start_ts: int, end_ts: int
) -> float:
    """Days of the period some reading's interval covers: a late first reading or a gap leaves
    days uncovered (several meters reading the same interval count it once)."""
    starts = np.clip(ts - interval_s, start_ts, end_ts)
    ends = np.clip(ts, start_ts, end_ts)
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reached = np.concatenate(([start_ts], np.maximum.accumulate(ends)[:-1]))
    return float(np.maximum(0, ends - np.maximum(starts, reached)).sum()) / 86_400


def _at_the_same_pace(usage: Usage, period: BillingPeriod, through_ts: int) -> Usage:
    """The whole period's usage if the rest of it runs at the pace so far (same mix of TOU
    periods); the energy buckets stay as they are, so the projection sets no new peak."""
    return usage.scaled((period.end_ts - period.start_ts) / max(1, through_ts - period.start_ts))
