"""The demand watch: open windows projected by hand, and money at stake equal to the bill's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.billing import compute_bill
from kilowatch.billing.demand import (
    DemandWatch,
    MeterLatest,
    latest_reading,
    open_window,
    project_bill,
    project_demand,
)
from kilowatch.billing.running import RunningBill
from kilowatch.influx.schema import (
    BUDGET_WATCH_TAGS,
    DEMAND_WATCH_TAGS,
    budget_watch_line,
    demand_watch_line,
)
from tests.billing.samples import FLAT, TOU, TWO_CHARGES_RATCHETED, plant, readings
from tests.tariff.samples import local

UTC = "UTC"
FLAT_DEMAND = plant(FLAT, UTC, demand={"charges": [{"name": "demand", "per_kw": 10}]})
# A 100 kW window on 1 October 00:00-00:15: the period's peak before the windows tested.
HISTORY = readings([local(UTC, 2026, 10, 1, 0, 15)], 25.0)
W = local(UTC, 2026, 10, 2, 10, 0)  # the window tested: 10:00-10:15


def watch(tariff, frame: pd.DataFrame, power_kw: dict[str, float] | None = None) -> DemandWatch:
    """A demand watch fed `frame` (columns meter, ts, interval_s, energy_kwh)."""
    running = RunningBill(tariff, "hmo")
    result = DemandWatch(running)
    for meter, rows in frame.groupby("meter", sort=True):
        ts, length, kwh = (rows[c].to_numpy() for c in ("ts", "interval_s", "energy_kwh"))
        running.add_many(str(meter), ts, length, kwh)
        power = None
        if power_kw is not None and meter in power_kw:
            power = np.full(len(ts), power_kw[str(meter)])
        result.observe(str(meter), ts, length, kwh, power)
    return result


def frame(*parts: tuple[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(meter=m) for m, f in parts], ignore_index=True)


def test_a_reading_five_minutes_into_the_window_projects_its_latest_power() -> None:
    # 10 kWh in 10:00-10:05, power now 150 kW: 10 + 150 x 10/60 = 35 kWh = 140 kW.
    data = frame(("m1", HISTORY), ("m1", readings([W + 300], 10.0, 300)))
    [p] = watch(FLAT_DEMAND, data, {"m1": 150.0}).demand(W + 300)
    assert (p.window_start_ts, p.window_end_ts) == (W, W + 900)
    assert p.energy_so_far_kwh == pytest.approx(10.0)
    assert p.projected_kw == pytest.approx(140.0)
    assert p.peak_kw == pytest.approx(100.0)
    assert p.billed_kw == pytest.approx(100.0)
    assert p.demand_at_stake == 400.00  # 40 kW above the peak x 10/kW
    assert p.ratchet_at_stake == 0.0
    assert p.money_at_stake == 400.00
    assert (p.meters_measured, p.meters_linear, p.meters_stale) == (1, 0, 0)


def test_a_reading_ten_minutes_into_the_window() -> None:
    # 10 + 11 kWh so far, power now 90 kW: 21 + 90 x 5/60 = 28.5 kWh = 114 kW.
    data = frame(("m1", HISTORY), ("m1", readings([W + 300, W + 600], [10.0, 11.0], 300)))
    [p] = watch(FLAT_DEMAND, data, {"m1": 90.0}).demand(W + 600)
    assert p.energy_so_far_kwh == pytest.approx(21.0)
    assert p.projected_kw == pytest.approx(114.0)
    assert p.demand_at_stake == 140.00
    line = demand_watch_line(p)
    assert line.startswith(
        "demand_watch,billing_period=2026-10,charge=demand,currency=USD,plant=hmo "
    )
    assert "seconds_left=300i" in line and "over_kw=14" in line


def test_without_power_kw_the_projection_is_linear() -> None:
    # 10 kWh in 5 minutes is 120 kW mean; carried on: 10 + 120 x 10/60 = 30 kWh = 120 kW.
    data = frame(("m1", HISTORY), ("m1", readings([W + 300], 10.0, 300)))
    [p] = watch(FLAT_DEMAND, data).demand(W + 300)
    assert p.projected_kw == pytest.approx(120.0)
    assert p.demand_at_stake == 200.00
    assert (p.meters_measured, p.meters_linear) == (0, 1)


def test_under_the_peak_nothing_is_at_stake() -> None:
    data = frame(("m1", HISTORY), ("m1", readings([W + 300], 5.0, 300)))
    [p] = watch(FLAT_DEMAND, data, {"m1": 60.0}).demand(W + 300)
    assert p.projected_kw == pytest.approx(5 * 12 / 3 + 60 * 2 / 3)  # 20 + 40 = 60 kW
    assert p.demand_at_stake == p.money_at_stake == 0.0
    assert p.projected_kw - p.threshold_kw < 0


def test_a_late_meter_is_carried_from_where_its_data_ends() -> None:
    # m1 reported to 10:10 (20 kWh, 120 kW now); m2's newest reading ended 09:55 at 60 kW;
    # m3 has been silent since 08:00, longer than the staleness limit: not projected.
    data = frame(
        ("m1", HISTORY),
        ("m1", readings([W + 300, W + 600], 10.0, 300)),
        ("m2", readings([W - 300], 5.0, 300)),
        ("m3", readings([W - 2 * 3600], 5.0, 300)),
    )
    result = watch(FLAT_DEMAND, data, {"m1": 120.0, "m2": 60.0, "m3": 500.0})
    [p] = result.demand(W + 600)
    # 20 so far + m1 120 kW x 5 min (10) + m2 60 kW x the whole 15 min (15) = 45 kWh = 180 kW.
    assert p.projected_kw == pytest.approx(180.0)
    assert (p.meters_measured, p.meters_stale) == (2, 1)
    # m2's reading for 10:00-10:05 arrives late, 30 kWh (360 kW): its energy now counts.
    result.running.add("m2", W + 300, 300, 30.0)
    result.observe("m2", np.array([W + 300]), np.array([300]), np.array([30.0]), None)
    [later] = result.demand(W + 600)
    # 50 so far + m1 10 + m2 (linear, 360 kW) x 10 min = 60: 120 kWh = 480 kW.
    assert later.projected_kw == pytest.approx(480.0)


def test_the_window_is_the_one_closing_next_and_a_closed_one_has_no_time_left() -> None:
    assert open_window(FLAT_DEMAND, W + 1) == (W, W + 900)
    assert open_window(FLAT_DEMAND, W + 900) == (W, W + 900)
    data = frame(("m1", HISTORY), ("m1", readings([W + 900], 30.0)))
    [p] = watch(FLAT_DEMAND, data, {"m1": 0.0}).demand(W + 900)
    assert p.projected_kw == pytest.approx(120.0) and "seconds_left=0i" in demand_watch_line(p)


def test_a_window_straddling_the_period_start_counts_for_none() -> None:
    tariff = plant(
        FLAT, UTC, demand={"window_minutes": 60, "charges": [{"name": "d", "per_kw": 1}]}
    )
    oct1 = local(UTC, 2026, 10, 1)
    assert watch(tariff, frame(("m1", HISTORY))).demand(oct1 + 600)  # 00:00-01:00: counts
    half_hour = plant(
        FLAT, "Asia/Kolkata", demand={"window_minutes": 60, "charges": [{"name": "d", "per_kw": 1}]}
    )
    # In +05:30 an hour window aligned to Unix time straddles local midnight.
    start = local("Asia/Kolkata", 2026, 10, 1)
    assert watch(half_hour, frame(("m1", HISTORY))).demand(start + 60) == []


CHICAGO = "America/Chicago"
TWO_CHARGES = plant(
    {**TOU, "tax_percent": 16},
    CHICAGO,
    demand=TWO_CHARGES_RATCHETED,
)


def test_dst_windows_follow_unix_time_and_the_local_peak_hours() -> None:
    # Spring forward, 8 March 2026: 01:45 CST + 15 minutes is 03:00 CDT.
    before_jump = local(CHICAGO, 2026, 3, 8, 1, 50)
    start, end = open_window(TWO_CHARGES, before_jump)
    assert start == local(CHICAGO, 2026, 3, 8, 1, 45)
    assert end == local(CHICAGO, 2026, 3, 8, 3, 0) == start + 900
    # Peak hours are local: at 18:05 CDT (23:05 UTC) the peak charge counts the window;
    # at 17:55 it does not; the day before, 18:05 CST (00:05 UTC next day) it counts.
    history = readings(np.arange(local(CHICAGO, 2026, 3, 1, 0, 15), before_jump, 900), 10.0)
    data = frame(("m1", history))
    charges = {
        when: [p.charge for p in watch(TWO_CHARGES, data, {"m1": 40.0}).demand(when)]
        for when in (
            local(CHICAGO, 2026, 3, 8, 18, 5),
            local(CHICAGO, 2026, 3, 8, 17, 55),
            local(CHICAGO, 2026, 3, 7, 18, 5),
        )
    }
    assert list(charges.values()) == [["max", "peak"], ["max"], ["max", "peak"]]
    [projection] = watch(TWO_CHARGES, data, {"m1": 40.0}).demand(before_jump)[:1]
    assert projection.window_start_ts == start and projection.billing_period == "2026-03"


def test_fall_back_repeated_hour_has_distinct_windows() -> None:
    first = local(CHICAGO, 2026, 11, 1, 1, 5)
    second = local(CHICAGO, 2026, 11, 1, 1, 5, fold=1)
    assert second - first == 3600
    assert open_window(TWO_CHARGES, first)[0] == local(CHICAGO, 2026, 11, 1, 1, 0)
    assert open_window(TWO_CHARGES, second)[0] == local(CHICAGO, 2026, 11, 1, 1, 0, fold=1)


def test_two_demand_charges_with_different_periods_each_get_their_stake() -> None:
    # 60 kW all month (peak hours too), then at 19:05 local: 10 kWh so far, 200 kW now.
    oct1, w = local(CHICAGO, 2026, 10, 1), local(CHICAGO, 2026, 10, 20, 19, 0)
    base = readings(np.arange(oct1 + 300, w + 1, 300), 5.0, 300)
    data = frame(("m1", base), ("m1", readings([w + 300], 10.0, 300)))
    by_charge = {p.charge: p for p in watch(TWO_CHARGES, data, {"m1": 200.0}).demand(w + 300)}
    # 10 + 200 x 10/60 = 43.33 kWh = 173.33 kW, 113.33 kW above the 60 kW peak.
    assert by_charge["max"].projected_kw == pytest.approx(520 / 3)
    assert by_charge["max"].demand_at_stake == 340.00  # 3 x 113.333
    assert by_charge["peak"].demand_at_stake == 793.33  # 7 x 113.333
    # The ratchet: November's floor would be 50 % of 173.33 instead of 50 % of 60 kW.
    assert by_charge["peak"].ratchet_at_stake == pytest.approx(7 * (520 / 3 - 60) / 2, abs=0.01)
    assert by_charge["max"].ratchet_at_stake == 0.0
    expected = round((793.33 + by_charge["peak"].ratchet_at_stake) * 1.16, 2)
    assert by_charge["peak"].money_at_stake == pytest.approx(expected, abs=0.011)


def demand_lines(bill) -> float:
    return bill.subtotal("demand")


def test_money_at_stake_agrees_with_the_bill_to_the_cent() -> None:
    """A scripted peak: the projection at each of its readings, then the bills."""
    oct1, nov1 = local(CHICAGO, 2026, 10, 1), local(CHICAGO, 2026, 11, 1)
    w = local(CHICAGO, 2026, 10, 20, 19, 0)
    base = readings(np.arange(oct1 + 300, w + 1, 300), 5.0, 300)  # 60 kW
    peak = readings([w + 300, w + 600, w + 900], 50.0 / 3, 300)  # 200 kW
    rest = readings(np.arange(w + 1200, nov1 + 1, 300), 5.0, 300)
    november = readings(np.arange(nov1 + 300, nov1 + 86400 * 3, 300), 1.0, 300)  # 12 kW
    running = RunningBill(TWO_CHARGES, "hmo")
    result = DemandWatch(running)
    running.add_many("m1", base["ts"], base["interval_s"], base["energy_kwh"])
    stakes = []
    for _, row in peak.iterrows():
        ts = np.array([row["ts"]])
        running.add_many("m1", ts, [300], [row["energy_kwh"]])
        result.observe("m1", ts, np.array([300]), np.array([row["energy_kwh"]]), np.array([200.0]))
        stakes.append({p.charge: p for p in result.demand(int(row["ts"]))})
    for at in stakes:  # constant power: every reading projects the window exactly
        assert at["max"].projected_kw == pytest.approx(200.0)
        assert at["peak"].demand_at_stake == stakes[-1]["peak"].demand_at_stake
    before = compute_bill(TWO_CHARGES, pd.concat([base, rest]), "2026-10")
    after = compute_bill(TWO_CHARGES, pd.concat([base, peak, rest]), "2026-10")
    total_stake = sum(stakes[-1][c].demand_at_stake for c in ("max", "peak"))
    assert total_stake == pytest.approx(demand_lines(after) - demand_lines(before), abs=1e-9)
    assert [p.billed_kw for p in after.peaks] == pytest.approx([200.0, 200.0])
    # November's bill: its own demand is low, the ratchet bills 50 % of October's peak.
    nov_before = compute_bill(TWO_CHARGES, pd.concat([base, rest, november]), "2026-11")
    nov_after = compute_bill(TWO_CHARGES, pd.concat([base, peak, rest, november]), "2026-11")
    reach = demand_lines(nov_after) - demand_lines(nov_before)
    assert stakes[-1]["peak"].ratchet_at_stake == pytest.approx(reach, abs=1e-9)
    assert reach == pytest.approx(7 * (100 - 30))


def test_latest_reading_prefers_power_kw_and_falls_back_to_mean_power() -> None:
    ts, length, kwh = np.array([600, 300]), np.array([300, 300]), np.array([2.0, 1.0])
    assert latest_reading(ts, length, kwh, np.array([30.0, 10.0])) == MeterLatest(
        600, 30.0, "measured"
    )
    assert latest_reading(ts, length, kwh, np.array([np.nan, 10.0])) == MeterLatest(
        600, 24.0, "linear"
    )
    assert latest_reading(np.array([], dtype=np.int64), length[:0], kwh[:0]) is None


def test_no_demand_charge_no_projection() -> None:
    flat = plant(FLAT, UTC)
    running = RunningBill(flat, "hmo")
    assert project_demand(flat, "hmo", W, running.usage("2026-10"), [], {}) == []


def test_the_projected_bill_prices_the_rest_of_the_period_at_the_recent_rate() -> None:
    # 0.10/kWh flat, 10 kW for the first 10 days of a 31-day October: 2400 kWh so far;
    # the rest (21 days at 240 kWh/day = 5040 kWh): 7440 kWh, 744.00 + the peak's 100.00.
    tariff = plant(FLAT, UTC, demand={"charges": [{"name": "demand", "per_kw": 10}]})
    oct1 = local(UTC, 2026, 10, 1)
    now = oct1 + 10 * 86400
    data = readings(np.arange(oct1 + 900, now + 1, 900), 2.5)
    running = RunningBill(tariff, "hmo")
    running.add_many("m1", data["ts"], data["interval_s"], data["energy_kwh"])
    projection = project_bill(tariff, "hmo", now, running.usage("2026-10"), [], budget=800.0)
    assert projection.bill_so_far == 340.00
    assert projection.run_rate_kwh_per_day == pytest.approx(240.0)
    assert projection.projected_bill == pytest.approx(844.00)
    line = budget_watch_line(projection)
    assert line.startswith("budget_watch,billing_period=2026-10,currency=USD,plant=hmo ")
    assert "over_budget=44" in line


@settings(max_examples=25, deadline=None)
@given(
    history=st.lists(st.floats(0, 60).map(lambda x: round(x, 3)), min_size=1, max_size=40),
    window=st.lists(st.floats(0, 40).map(lambda x: round(x, 3)), min_size=3, max_size=3),
    day=st.integers(6, 28),  # after the history's five days
    hour=st.integers(0, 23),
)
def test_a_closed_windows_stake_is_what_the_bill_adds(
    history: list[float], window: list[float], day: int, hour: int
) -> None:
    """At the window's end its projection is its demand, and the stake the bill's difference."""
    oct1 = local(CHICAGO, 2026, 10, 1)
    w = local(CHICAGO, 2026, 10, day, hour, 0)
    before = readings(oct1 + 900 + 10_800 * np.arange(len(history)), history)  # 3 h apart
    inside = readings([w + 300, w + 600, w + 900], window, 300)
    running = RunningBill(TWO_CHARGES, "hmo")
    for part in (before, inside):
        running.add_many("m1", part["ts"], part["interval_s"], part["energy_kwh"])
    result = DemandWatch(running)
    result.observe(
        "m1",
        inside["ts"].to_numpy(),
        inside["interval_s"].to_numpy(),
        inside["energy_kwh"].to_numpy(),
    )
    projections = result.demand(w + 900)
    assert projections[0].projected_kw == pytest.approx(sum(window) * 4)
    without = compute_bill(TWO_CHARGES, before, "2026-10")
    with_window = compute_bill(TWO_CHARGES, pd.concat([before, inside]), "2026-10")
    stake = sum(p.demand_at_stake for p in projections)
    assert stake == pytest.approx(demand_lines(with_window) - demand_lines(without), abs=1e-9)


def test_the_points_carry_the_schemas_tags() -> None:
    data = frame(("m1", HISTORY), ("m1", readings([W + 300], 10.0, 300)))
    demand, bill = watch(FLAT_DEMAND, data, {"m1": 150.0}).project(W + 300)
    for line, tags in (
        (demand_watch_line(demand[0]), DEMAND_WATCH_TAGS),
        (budget_watch_line(bill), BUDGET_WATCH_TAGS),
    ):
        head = line.split(" ", 1)[0].split(",")
        assert [pair.split("=")[0] for pair in head[1:]] == list(tags)


def test_money_at_stake_includes_the_power_factor_penalty_on_demand() -> None:
    """CFE-style: a power-factor penalty is a percentage of energy, demand and fixed charges,
    so a new peak costs the penalty on its demand too (as the bill's total shows)."""
    tariff = plant(
        {**FLAT, "tax_percent": 16},
        UTC,
        demand={"charges": [{"name": "demand", "per_kw": 10}]},
        power_factor={
            "penalty": {"threshold": 0.9, "factor": 0.6, "max_percent": 120},
            "applies_to": ["energy", "demand", "fixed"],
        },
    )
    # Power factor 0.8 (kvarh = 0.75 kWh): a 0.6 x (0.9 / 0.8 - 1) = 7.5 % penalty.
    history = readings([local(UTC, 2026, 10, 1, 0, 15)], 25.0, reactive_kvarh=18.75)
    inside = readings([W + 300, W + 600, W + 900], 35.0 / 3, 300, reactive_kvarh=8.75)
    running = RunningBill(tariff, "hmo")
    for part in (history, inside):
        running.add_many(
            "m1", part["ts"], part["interval_s"], part["energy_kwh"], part["reactive_kvarh"]
        )
    result = DemandWatch(running)
    result.observe(
        "m1", inside["ts"].to_numpy(), inside["interval_s"].to_numpy(), inside["energy_kwh"]
    )
    [p] = result.demand(W + 900)
    assert p.projected_kw == pytest.approx(140.0)
    assert p.demand_at_stake == 400.00  # 40 kW above the 100 kW peak x 10/kW
    before = compute_bill(tariff, history, "2026-10")
    after = compute_bill(tariff, pd.concat([history, inside]), "2026-10")
    assert after.power_factor == pytest.approx(0.8)
    # 400 x 1.075 (penalty) x 1.16 (tax) = 498.80, not 400 x 1.16 = 464.00.
    assert p.money_at_stake == 498.80
    # The rest of the difference is the window's energy (and the penalty and tax on it).
    energy = after.subtotal("energy") - before.subtotal("energy")
    assert after.total - before.total == pytest.approx(498.80 + energy * 1.075 * 1.16, abs=0.02)


def test_the_budget_watch_bill_so_far_is_kilowatch_bills_total() -> None:
    # A load-factor cap and a per-day fixed charge: the bill so far counts the 5 days elapsed.
    tariff = plant(
        FLAT,
        UTC,
        demand={"charges": [{"name": "demand", "per_kw": 10, "load_factor_cap": 0.5}]},
        fixed=[{"name": "meter", "per_day": 1.0}],
    )
    oct1 = local(UTC, 2026, 10, 1)
    now = oct1 + 5 * 86400 + 600
    data = readings(np.arange(oct1 + 900, oct1 + 5 * 86400 + 1, 900), 2.5).assign(meter="m1")
    expected = compute_bill(tariff, data, "2026-10", now=now)
    projection = watch(tariff, data).bill(now)
    assert projection.bill_so_far == expected.total
    assert projection.bill_so_far == pytest.approx(120.0 + 100.0 + 5.0)
