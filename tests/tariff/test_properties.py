"""Properties over random instants, intervals and zones (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.tariff import PlantTariff, Tariff

from .samples import NIGHT_DAY_0130, TOU_RULES, tariff, utc

# Zones with DST (some at midnight, one by 30 minutes), without, and with a past change of rules.
ZONES = [
    "America/Mexico_City",
    "America/Chihuahua",
    "America/Hermosillo",
    "America/New_York",
    "America/Santiago",
    "Europe/Madrid",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
]
SAMPLES = {"tou": TOU_RULES, "night-day": NIGHT_DAY_0130}
FIRST, LAST = utc(2019, 1, 1), utc(2031, 1, 1)

instants = st.integers(FIRST, LAST)
zones = st.sampled_from(ZONES)
samples = st.sampled_from(sorted(SAMPLES))
energies = st.floats(0, 1000, allow_nan=False)


@cache
def plant(sample: str, zone: str) -> PlantTariff:
    return PlantTariff(tariff(SAMPLES[sample]), zone)


@cache
def holidays_of(sample: str, year: int) -> set[date]:
    return plant(sample, ZONES[0]).tariff.holidays.dates(year)


def by_the_wall_clock(sample: str, zone: str, ts: int) -> tuple[str, float]:
    """The period and rate read straight off the schedule at the local time of `ts`."""
    found: Tariff = plant(sample, zone).tariff
    wall = datetime.fromtimestamp(ts, ZoneInfo(zone))
    day = wall.date()
    for season in found.seasons:
        start, end = season.from_.on(day.year, edge="from"), season.to.on(day.year, edge="to")
        if (start <= day <= end) if start <= end else (day >= start or day <= end):
            break
    week = ("weekday",) * 5 + ("saturday", "sunday")
    day_type = "holiday" if day in holidays_of(sample, day.year) else week[day.weekday()]
    seconds = wall.hour * 3600 + wall.minute * 60 + wall.second
    for r in season.schedule.day(day_type):  # type: ignore[arg-type]
        if r.start_s <= seconds < r.end_s:
            return r.period, season.rates[r.period]
    raise AssertionError("the schedule leaves a gap")


@settings(max_examples=200, deadline=None)
@given(sample=samples, zone=zones, ts=instants)
def test_rate_at_is_the_schedule_at_local_wall_time(sample: str, zone: str, ts: int) -> None:
    rate = plant(sample, zone).rate_at(ts)
    assert (rate.period, rate.rate_per_kwh) == by_the_wall_clock(sample, zone, ts)


@settings(max_examples=300, deadline=None)
@given(
    sample=samples,
    zone=zones,
    start=instants,
    first=st.integers(1, 2 * 86400),
    second=st.integers(1, 2 * 86400),
    energy=energies,
)
def test_splitting_an_interval_keeps_its_cost(
    sample: str, zone: str, start: int, first: int, second: int, energy: float
) -> None:
    p = plant(sample, zone)
    whole = p.cost(start + first + second, first + second, energy)
    part_a = p.cost(start + first, first, energy * first / (first + second))
    part_b = p.cost(start + first + second, second, energy * second / (first + second))
    assert whole.cost == pytest.approx(part_a.cost + part_b.cost, rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    sample=samples,
    zone=zones,
    ends=st.lists(instants, min_size=1, max_size=50),
    data=st.data(),
)
def test_batches_equal_single_readings_and_never_cost_less_than_zero(
    sample: str, zone: str, ends: list[int], data: st.DataObject
) -> None:
    n = len(ends)
    lengths = data.draw(st.lists(st.integers(1, 86400), min_size=n, max_size=n))
    energy = data.draw(st.lists(energies, min_size=n, max_size=n))
    p = plant(sample, zone)
    batch = p.cost_many(np.array(ends), np.array(lengths), np.array(energy))
    assert (batch.cost >= 0).all()
    for i in range(n):
        single = p.cost(ends[i], lengths[i], energy[i])
        assert (single.cost, single.rate, single.period) == (
            batch.cost[i],
            batch.rate[i],
            batch.period[i],
        )


@settings(max_examples=25, deadline=None)
@given(sample=samples, zone=zones, year=st.integers(1995, 2040))
def test_a_year_is_cut_into_segments_without_gap_or_overlap(
    sample: str, zone: str, year: int
) -> None:
    p = plant(sample, zone)
    line = p._year(year)
    durations = np.diff(line.bounds)
    assert (durations > 0).all()  # strictly increasing: no overlap, no empty segment
    tz = ZoneInfo(zone)
    assert line.start == int(datetime(year, 1, 1, tzinfo=tz).timestamp())
    assert durations.sum() == int(datetime(year + 1, 1, 1, tzinfo=tz).timestamp()) - line.start
    minutes = np.arange(line.start, line.end, 60)
    segment = line.segment(minutes)
    assert segment.min() == 0 and segment.max() == len(durations) - 1
    used = set(p.tariff.periods[i] for i in np.unique(line.period[segment]))
    assert used <= set(p.tariff.periods)


def test_every_quarter_hour_of_a_dst_year_matches_the_wall_clock() -> None:
    zone = "Europe/Madrid"
    p = plant("tou", zone)
    line = p._year(2026)
    instants_ = range(line.start, line.end, 900)
    segment = line.segment(np.array(instants_))
    got = [(p.tariff.periods[line.period[k]], float(line.rate[k])) for k in segment]
    assert got == [by_the_wall_clock("tou", zone, t) for t in instants_]
