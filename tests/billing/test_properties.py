"""Properties of bills: components add up, readings in any order give the same bill."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kilowatch.billing import compute_bill, parse_period
from kilowatch.billing.bill import to_cents
from tests.billing.samples import TOU, TWO_CHARGES_RATCHETED, plant
from tests.tariff.samples import utc

OCT = utc(2026, 10, 1)
NOV = utc(2026, 11, 1)

FULL = plant(
    {**TOU, "tax_percent": 16},
    "America/Mexico_City",
    energy_tiers={"tiers": [{"up_to_kwh": 40}, {"rates": {"peak": 0.5}}]},
    demand=TWO_CHARGES_RATCHETED,
    fixed=[{"name": "meter", "per_day": 0.5}],
    power_factor={
        "penalty": {"threshold": 0.9, "factor": 0.6, "max_percent": 120},
        "bonus": {"threshold": 0.9, "factor": 0.25, "max_percent": 2.5},
    },
    surcharges=[{"name": "levy", "percent": 3, "applies_to": ["energy", "demand"]}],
    taxes=[{"name": "energy tax", "percent": 2, "applies_to": ["energy"]}],
)
ENERGY_ONLY = plant({**TOU, "tax_percent": 16}, "America/Mexico_City")
ENERGY_ONLY_OCTOBER = parse_period("2026-10", ENERGY_ONLY.zone)

reading = st.tuples(
    st.integers(OCT - 86400 * 35, NOV + 86400),  # ts_end: some before and after October
    st.sampled_from([60, 300, 900, 1800, 3600, 7200]),
    st.floats(0, 50),
    st.floats(0, 40),
)


def frame(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "interval_s", "energy_kwh", "reactive_kvarh"])


@settings(max_examples=60, deadline=None)
@given(st.lists(reading, max_size=40))
def test_total_is_the_sum_of_the_components(rows: list[tuple[int, int, float, float]]) -> None:
    bill = compute_bill(FULL, frame(rows), "2026-10")
    kinds = {line.kind for line in bill.lines}
    assert bill.total == to_cents(sum(bill.subtotal(kind) for kind in kinds))
    energy = [line for line in bill.lines if line.kind == "energy"]
    assert (
        sum(line.quantity for line in energy) == np.float64(bill.energy_kwh).round(6)
        or abs(sum(line.quantity for line in energy) - bill.energy_kwh) < 1e-6
    )
    fixed = bill.subtotal("fixed")
    assert fixed == to_cents(0.5 * 31)


@settings(max_examples=60, deadline=None)
@given(st.lists(reading, max_size=40))
def test_energy_lines_match_the_cost_of_each_reading(
    rows: list[tuple[int, int, float, float]],
) -> None:
    """Without tiers, the energy lines are the per-reading costs of the bridge, before tax."""
    month = ENERGY_ONLY_OCTOBER
    inside = [r for r in rows if r[0] - r[1] >= month.start_ts and r[0] <= month.end_ts]
    assume(inside)
    bill = compute_bill(ENERGY_ONLY, frame(inside), "2026-10")
    costs = ENERGY_ONLY.cost_many(
        np.array([r[0] for r in inside], dtype=np.int64),
        np.array([r[1] for r in inside], dtype=np.int64),
        np.array([r[2] for r in inside]),
    )
    before_tax = float(costs.cost.sum()) / 1.16
    assert abs(bill.subtotal("energy") - before_tax) <= 0.005 * (len(ENERGY_ONLY.periods)) + 1e-9
    assert abs(bill.total - before_tax * 1.16) <= 0.02


@settings(max_examples=60, deadline=None)
@given(st.lists(reading, max_size=40), st.randoms(use_true_random=False))
def test_readings_in_any_order_give_the_same_bill(
    rows: list[tuple[int, int, float, float]], rnd: object
) -> None:
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = compute_bill(FULL, frame(rows), "2026-10").to_dict()
    second = compute_bill(FULL, frame(shuffled), "2026-10").to_dict()
    assert first == second
