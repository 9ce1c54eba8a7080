"""Interval energy from a cumulative register: rollover, reset, implausible jumps, long gaps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.agent.energy import (
    MAX_INTERVAL_S,
    CounterRules,
    MeterSample,
    MeterState,
    advance,
    counter_delta,
    split_interval,
)

RULES = CounterRules(max_power_kw=1000.0, rollover_kwh=100_000.0)
T0 = 1_796_000_100  # a multiple of 300


def sample(total: float, **extra: Any) -> MeterSample:
    return MeterSample(energy_total_kwh=total, **extra)


def test_normal_increase_is_the_difference() -> None:
    assert counter_delta(1000.0, 1012.5, 300, 1000.0, None).energy == pytest.approx(12.5)


def test_rollover_adds_the_register_range() -> None:
    delta = counter_delta(99_990.0, 5.0, 300, 1000.0, 100_000.0)
    assert delta.kind == "rollover"
    assert delta.energy == pytest.approx(15.0)


def test_reset_counts_from_zero() -> None:
    delta = counter_delta(54_321.0, 3.25, 300, 1000.0, 100_000.0)
    assert delta.kind == "reset"
    assert delta.energy == pytest.approx(3.25)


def test_a_jump_above_max_power_is_implausible() -> None:
    # 1000 kW for 300 s is at most 83.3 kWh; a swapped meter reading 50 MWh more is not.
    assert counter_delta(1000.0, 51_000.0, 300, 1000.0, None).kind == "implausible"
    assert counter_delta(1000.0, 51_000.0, 300, 1000.0, None).energy is None


def test_a_drop_to_a_large_value_is_implausible_not_a_reset() -> None:
    assert counter_delta(90_000.0, 40_000.0, 300, 1000.0, 100_000.0).kind == "implausible"


def test_without_a_rollover_value_a_drop_near_zero_is_a_reset() -> None:
    assert counter_delta(99_990.0, 5.0, 300, 1000.0, None).kind == "reset"


@given(
    previous=st.floats(0, 1e9, allow_nan=False),
    current=st.floats(0, 1e9, allow_nan=False),
    elapsed=st.integers(1, 10 * 86400),
    max_kw=st.floats(1, 1e5),
    rollover=st.one_of(st.none(), st.floats(1e3, 1e10)),
)
def test_energy_is_never_negative_nor_above_the_limit(
    previous: float, current: float, elapsed: int, max_kw: float, rollover: float | None
) -> None:
    delta = counter_delta(previous, current, elapsed, max_kw, rollover)
    if delta.energy is not None:
        assert 0 <= delta.energy <= max_kw * elapsed / 3600 * (1 + 1e-9)


@given(st.lists(st.tuples(st.floats(0, 80, allow_nan=False), st.booleans()), min_size=1))
def test_increments_and_resets_are_recovered_exactly(steps: list[tuple[float, bool]]) -> None:
    """A register that counts up and is sometimes reset to 0: every interval's energy is found.

    A reset is only visible when the register ends up lower than before, so only those happen.
    """
    total, state = 500.0, MeterState("m", T0, 500.0)
    for i, (energy, reset) in enumerate(steps, start=1):
        total = energy if reset and energy < total else total + energy
        result = advance("p", "m", state, sample(total), T0 + 300 * i, RULES)
        assert result.event == "reading"
        assert result.readings[0].energy_kwh == pytest.approx(energy, abs=1e-6)
        state = result.state


def test_first_poll_sets_the_baseline_only() -> None:
    step = advance("p", "m", None, sample(1234.5, reactive_total_kvarh=10.0), T0, RULES)
    assert step.event == "baseline"
    assert step.readings == ()
    assert step.state == MeterState("m", T0, 1234.5, 10.0, 0)


def test_a_reading_carries_the_sample_and_the_next_seq() -> None:
    state = MeterState("m", T0, 1000.0, 50.0, 41)
    polled = sample(1010.0, reactive_total_kvarh=52.5, power_kw=120.0, power_factor=0.95)
    step = advance("p", "m", state, polled, T0 + 300, RULES)
    (reading,) = step.readings
    assert (reading.plant, reading.meter, reading.ts, reading.seq) == ("p", "m", T0 + 300, 42)
    assert reading.energy_kwh == pytest.approx(10.0)
    assert reading.interval_s == 300
    assert reading.reactive_kvarh == pytest.approx(2.5)
    assert (reading.energy_total_kwh, reading.power_kw, reading.power_factor) == (
        1010.0,
        120.0,
        0.95,
    )
    assert step.state == MeterState("m", T0 + 300, 1010.0, 52.5, 42)


def test_a_missed_poll_makes_one_longer_interval() -> None:
    step = advance("p", "m", MeterState("m", T0, 1000.0), sample(1020.0), T0 + 900, RULES)
    (reading,) = step.readings
    assert (reading.interval_s, reading.energy_kwh) == (900, pytest.approx(20.0))


def test_a_gap_over_a_day_is_split_into_day_long_readings_with_the_exact_total() -> None:
    gap = 2 * MAX_INTERVAL_S + 600
    rules = CounterRules(max_power_kw=10.0)
    step = advance("p", "m", MeterState("m", T0, 0.0, None, 7), sample(218.0), T0 + gap, rules)
    assert [r.interval_s for r in step.readings] == [86400, 86400, 600]
    assert [r.ts for r in step.readings] == [T0 + 86400, T0 + 172800, T0 + gap]
    assert [r.seq for r in step.readings] == [8, 9, 10]
    assert sum(r.energy_kwh for r in step.readings) == pytest.approx(218.0, abs=1e-5)
    assert step.readings[0].energy_kwh == pytest.approx(218.0 * 86400 / gap, abs=1e-6)
    # Only the last one was measured at its end.
    assert [r.energy_total_kwh for r in step.readings] == [None, None, 218.0]
    assert step.state.seq == 10


def test_an_implausible_jump_makes_no_reading_and_rebases() -> None:
    state = MeterState("m", T0, 1000.0, None, 5)
    step = advance("p", "m", state, sample(900_000.0), T0 + 300, RULES)
    assert step.event == "implausible"
    assert step.readings == ()
    assert step.state == MeterState("m", T0 + 300, 900_000.0, None, 5)
    assert "900000.0" in step.detail
    following = advance("p", "m", step.state, sample(900_010.0), T0 + 600, RULES)
    assert following.readings[0].energy_kwh == pytest.approx(10.0)


def test_a_slot_not_after_the_baseline_is_stale() -> None:
    state = MeterState("m", T0, 1000.0)
    for ts in (T0, T0 - 300):
        step = advance("p", "m", state, sample(1001.0), ts, RULES)
        assert (step.event, step.readings, step.state) == ("stale", (), state)


def test_reactive_energy_is_left_out_when_its_register_was_missing() -> None:
    step = advance(
        "p",
        "m",
        MeterState("m", T0, 10.0, None),
        sample(11.0, reactive_total_kvarh=3.0),
        T0 + 300,
        RULES,
    )
    assert step.readings[0].reactive_kvarh is None
    assert step.state.reactive_total_kvarh == 3.0


def test_a_silence_of_over_a_year_is_not_filled() -> None:
    step = advance("p", "m", MeterState("m", T0, 10.0), sample(20.0), T0 + 400 * 86400, RULES)
    assert (step.event, step.readings) == ("implausible", ())
    assert "400 days" in step.detail
    assert step.state.ts == T0 + 400 * 86400


def test_split_interval() -> None:
    assert split_interval(0, 300) == [300]
    assert split_interval(0, 86400) == [86400]
    assert split_interval(0, 86401) == [86400, 86401]
