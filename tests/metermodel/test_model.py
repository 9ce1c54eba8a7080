"""The meter model: deterministic, integrating, shaped by shifts and holidays, electrically sane."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.metermodel.model import EPOCH_TS, SimulatedMeter, default_profile

MEXICO = "America/Mexico_City"
BERLIN = "Europe/Berlin"
T2025 = 1735689600  # 2025-01-01T00:00:00Z
T2030 = 1893456000  # 2030-01-01T00:00:00Z


def meter(
    name: str = "press-1", seed: int = 7, timezone: str = MEXICO, country: str | None = "MX"
) -> SimulatedMeter:
    return SimulatedMeter("plant-1", name, default_profile(name), timezone, seed, country)


def local(timezone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Unix time of a local wall-clock time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(timezone)).timestamp())


def mean_power(m: SimulatedMeter, start: int, end: int) -> float:
    return float(np.mean([m.power_at(ts) for ts in range(start, end, 60)]))


def mean_pf(m: SimulatedMeter, start: int, end: int) -> float:
    return float(np.mean([m.register_at(ts).power_factor for ts in range(start, end, 300)]))


WARM = meter()  # one meter that has seen many instants, to compare with fresh ones


def test_same_seed_same_readings_and_another_seed_others() -> None:
    first = meter(seed=11).readings(T2025 + 300, 300, 500, 0)
    again = meter(seed=11).readings(T2025 + 300, 300, 500, 0)
    other = meter(seed=12).readings(T2025 + 300, 300, 500, 0)
    assert first == again
    assert [r.energy_kwh for r in first] != [r.energy_kwh for r in other]


@settings(max_examples=60, deadline=None)
@given(st.integers(T2025, T2030))
def test_register_is_the_same_whatever_was_computed_before(ts: int) -> None:
    assert meter().register_at(ts) == WARM.register_at(ts)


@settings(max_examples=60, deadline=None)
@given(st.integers(T2025, T2030), st.integers(0, 40 * 86400))
def test_registers_never_decrease(ts: int, later_by: int) -> None:
    before, after = WARM.register_at(ts), WARM.register_at(ts + later_by)
    assert after.energy_total_kwh >= before.energy_total_kwh
    assert after.reactive_total_kvarh >= before.reactive_total_kvarh


def test_registers_rise_at_the_power_drawn() -> None:
    ts = local(MEXICO, 2026, 11, 25, 9, 0)
    # Within one minute power is constant, so the register rises by exactly power x time.
    rise_kwh = WARM.register_at(ts + 60).energy_total_kwh - WARM.register_at(ts).energy_total_kwh
    assert rise_kwh == pytest.approx(WARM.power_at(ts) / 60, abs=0.002)


def test_readings_add_up_to_the_register_difference() -> None:
    first_end, interval = local(MEXICO, 2026, 10, 1, 0, 0), 300
    readings = WARM.readings(first_end, interval, 3000, 0)
    start = WARM.register_at(first_end - interval).energy_total_kwh
    end = WARM.register_at(readings[-1].ts).energy_total_kwh
    # Whole watt-hours: the register's resolution, so the sum is exact.
    assert sum(round(r.energy_kwh * 1000) for r in readings) == round((end - start) * 1000)
    totals_wh = [round((r.energy_total_kwh or 0) * 1000) for r in readings]
    for (before, after), reading in zip(itertools.pairwise(totals_wh), readings[1:], strict=True):
        assert after - before == round(reading.energy_kwh * 1000)
    assert all(r.energy_kwh >= 0 and (r.reactive_kvarh or 0) >= 0 for r in readings)


def test_short_intervals_add_up_to_long_ones() -> None:
    first_end = local(MEXICO, 2026, 11, 2, 12, 5)
    minutes = WARM.readings(first_end - 240, 60, 5 * 288)
    fives = WARM.readings(first_end, 300, 288)
    for i, five in enumerate(fives):
        assert sum(round(r.energy_kwh * 1000) for r in minutes[5 * i : 5 * i + 5]) == round(
            five.energy_kwh * 1000
        )


def test_a_reading_is_the_registers_at_its_end() -> None:
    ts = local(MEXICO, 2026, 11, 25, 9, 5)
    reading = WARM.reading(ts, 300, seq=42)
    register = WARM.register_at(ts)
    assert (reading.ts, reading.seq, reading.interval_s) == (ts, 42, 300)
    assert reading.energy_total_kwh == register.energy_total_kwh
    assert reading.power_kw == register.power_kw
    assert reading.voltage_v == register.voltage_v
    assert reading.current_a == register.current_a


@pytest.mark.parametrize("kind", ["press", "compressor", "assembly", "lighting", "hvac"])
def test_weekday_day_shift_draws_far_more_than_sunday_night(kind: str) -> None:
    m = meter(f"{kind}-1")
    weekday = mean_power(m, local(MEXICO, 2026, 11, 25, 7), local(MEXICO, 2026, 11, 25, 13))
    sunday_night = mean_power(m, local(MEXICO, 2026, 11, 29, 0), local(MEXICO, 2026, 11, 29, 5))
    assert weekday > 3 * sunday_night
    assert m.profile.base_kw * 0.9 < sunday_night


def test_saturday_is_reduced_and_breaks_show() -> None:
    m = meter("assembly-1")
    weekday = mean_power(m, local(MEXICO, 2026, 11, 25, 7), local(MEXICO, 2026, 11, 25, 10))
    lunch = mean_power(m, local(MEXICO, 2026, 11, 25, 10), local(MEXICO, 2026, 11, 25, 10, 30))
    saturday = mean_power(m, local(MEXICO, 2026, 11, 28, 7), local(MEXICO, 2026, 11, 28, 10))
    sunday = mean_power(m, local(MEXICO, 2026, 11, 29, 7), local(MEXICO, 2026, 11, 29, 10))
    assert lunch < 0.6 * weekday
    assert sunday < 0.8 * saturday < 0.8 * weekday


def test_night_shift_belongs_to_the_day_it_starts() -> None:
    m = meter("assembly-1")
    # Friday's night shift runs into Saturday 06:00; Monday before 06:00 is still Sunday's.
    saturday_early = mean_power(m, local(MEXICO, 2026, 11, 28, 3), local(MEXICO, 2026, 11, 28, 5))
    monday_early = mean_power(m, local(MEXICO, 2026, 11, 30, 3), local(MEXICO, 2026, 11, 30, 5))
    assert saturday_early > 3 * monday_early


@pytest.mark.parametrize("kind", ["press", "compressor", "assembly"])
def test_power_factor_falls_at_light_load(kind: str) -> None:
    m = meter(f"{kind}-1")
    busy = mean_pf(m, local(MEXICO, 2026, 11, 25, 7), local(MEXICO, 2026, 11, 25, 13))
    idle = mean_pf(m, local(MEXICO, 2026, 11, 29, 0), local(MEXICO, 2026, 11, 29, 5))
    assert idle < busy - 0.1
    samples = [m.register_at(ts) for ts in range(T2025, T2025 + 7 * 86400, 900)]
    loads = np.array([r.power_kw for r in samples])
    factors = np.array([r.power_factor for r in samples])
    assert np.all((factors > 0) & (factors <= 1))
    assert np.corrcoef(loads, factors)[0, 1] > 0.7


@pytest.mark.parametrize(
    ("timezone", "country", "phase_v"), [(MEXICO, "MX", 127), (BERLIN, "DE", 230)]
)
def test_three_phase_current_matches_power_voltage_and_power_factor(
    timezone: str, country: str, phase_v: float
) -> None:
    m = meter("compressor-1", timezone=timezone, country=country)
    for ts in range(T2025, T2025 + 3 * 86400, 1800):
        r = m.register_at(ts)
        assert all(abs(v / phase_v - 1) < 0.05 for v in r.voltage_v)
        line_v = math.sqrt(3) * np.mean(r.voltage_v)
        expected_a = r.power_kw * 1000 / (math.sqrt(3) * line_v * r.power_factor)
        assert np.mean(r.current_a) == pytest.approx(expected_a, rel=0.02)
        assert max(r.current_a) / min(r.current_a) < 1.1  # phases slightly unbalanced, no more
        drawn_w = sum(v * i for v, i in zip(r.voltage_v, r.current_a, strict=True)) * r.power_factor
        assert drawn_w == pytest.approx(r.power_kw * 1000, rel=0.01)


def test_a_public_holiday_is_like_a_sunday() -> None:
    m = meter("press-1")

    def day(m: SimulatedMeter, d: int) -> float:
        return mean_power(m, local(MEXICO, 2026, 11, d, 7), local(MEXICO, 2026, 11, d, 13))

    holiday, sunday, monday = day(m, 16), day(m, 22), day(m, 23)  # 16 Nov 2026: Revolution Day
    assert holiday == pytest.approx(sunday, rel=0.3)
    assert holiday < 0.4 * monday
    no_holidays = meter("press-1", country=None)
    assert day(no_holidays, 16) > 2.5 * holiday


@pytest.mark.parametrize(("month", "day"), [(3, 30), (10, 26)])  # Mondays after the clock changes
def test_shifts_follow_local_time_across_clock_changes(month: int, day: int) -> None:
    m = meter("assembly-1", timezone=BERLIN, country="DE")
    before = mean_power(m, local(BERLIN, 2026, month, day, 4), local(BERLIN, 2026, month, day, 5))
    during = mean_power(m, local(BERLIN, 2026, month, day, 6), local(BERLIN, 2026, month, day, 9))
    assert during > 3 * before


@pytest.mark.parametrize(("month", "day"), [(3, 29), (10, 25)])  # the days the clocks change
def test_registers_stay_continuous_on_clock_change_days(month: int, day: int) -> None:
    m = meter("furnace-1", timezone=BERLIN, country="DE")
    start = local(BERLIN, 2026, month, day, 0)
    readings = m.readings(start + 60, 60, 30 * 60)
    peak_kwh_per_minute = m.profile.peak_kw * 1.2 / 60
    assert all(0 < r.energy_kwh < peak_kwh_per_minute for r in readings)


def test_instants_before_the_epoch_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="before the simulator's epoch"):
        WARM.register_at(EPOCH_TS - 1)
    assert WARM.register_at(EPOCH_TS).energy_total_kwh > 0


def test_ids_outside_the_contract_are_refused() -> None:
    with pytest.raises(ValueError, match="meter id 'press 1'"):
        SimulatedMeter("plant-1", "press 1", default_profile("press-1"), MEXICO, 0)
