"""Grafana's InfluxQL macro and variable interpolation, as the query test relies on it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.grafana.macros import (
    ALL,
    MacroError,
    Variable,
    duration_ms,
    escape_regex,
    format_duration,
    interpolate,
    interval_ms,
    round_interval_ms,
)
from tests.support.grafana.timerange import TimeRange

DAY_MS = 86_400_000
RANGE = TimeRange(start_ms=1_790_000_000_000, end_ms=1_790_000_000_000 + DAY_MS)
PLANT = Variable("plant", ("hmo",))
METERS = Variable("meter", ("press-01", "paint.oven"), multi=True, include_all=True)


def run(query: str, *variables: Variable, interval: int = 300_000) -> str:
    return interpolate(query, time_range=RANGE, interval=interval, variables=variables)


def test_time_filter_is_the_range_in_milliseconds() -> None:
    assert run("WHERE $timeFilter") == (
        f"WHERE time >= {RANGE.start_ms}ms and time <= {RANGE.end_ms}ms"
    )


def test_interval_macros() -> None:
    query = "GROUP BY time($__interval) x $__interval_ms y ${__interval}"
    assert run(query, interval=900_000) == "GROUP BY time(15m) x 900000 y 15m"


def test_range_and_edges() -> None:
    assert run("$__range_s $__range_ms $__range ${__from} ${__to}") == (
        f"86400 {DAY_MS} 1d {RANGE.start_ms} {RANGE.end_ms}"
    )


def test_single_value_variable_is_inserted_as_it_is() -> None:
    assert run('"plant" =~ /^$plant$/ AND [[plant]] ${plant}', PLANT) == (
        '"plant" =~ /^hmo$/ AND hmo hmo'
    )


def test_multi_value_variable_becomes_an_escaped_alternation() -> None:
    assert run('"meter" =~ /^$meter$/', METERS) == r'"meter" =~ /^(press-01|paint\.oven)$/'


def test_all_uses_the_custom_all_value_or_every_option() -> None:
    custom = Variable("line", (ALL,), multi=True, include_all=True, all_value=".*")
    assert run("/^$line$/", custom) == "/^.*$/"
    every = Variable("line", (ALL,), multi=True, include_all=True, options=("a", "b"))
    assert run("/^$line$/", every) == "/^(a|b)$/"


def test_formats() -> None:
    assert run("${meter:pipe} ${meter:csv} ${plant:regex}", METERS, PLANT) == (
        "press-01|paint.oven press-01,paint.oven hmo"
    )
    with pytest.raises(MacroError, match="format 'glob'"):
        run("${meter:glob}", METERS)


def test_an_unknown_variable_is_an_error_naming_it() -> None:
    with pytest.raises(MacroError, match=r"\$lne"):
        run('"line" =~ /^$lne$/', PLANT)


def test_regex_end_anchor_is_not_taken_for_a_variable() -> None:
    assert run("/^$plant$/", PLANT) == "/^hmo$/"


@pytest.mark.parametrize(
    ("raw_ms", "rounded_ms"),
    [(8, 10), (14_000, 15_000), (432_000, 300_000), (1_008_000, 900_000), (3 * DAY_MS, DAY_MS)],
)
def test_interval_rounding_follows_grafana(raw_ms: float, rounded_ms: int) -> None:
    assert round_interval_ms(raw_ms) == rounded_ms


def test_min_interval_wins_over_a_finer_one() -> None:
    assert interval_ms(RANGE, max_data_points=1000, min_interval="5m") == 300_000
    assert interval_ms(RANGE, max_data_points=10, min_interval="5m") == 2 * 3_600_000


def test_durations() -> None:
    assert [duration_ms(t) for t in ("500ms", "10s", "5m", "1h", "1d", "1w")] == [
        500,
        10_000,
        300_000,
        3_600_000,
        DAY_MS,
        7 * DAY_MS,
    ]
    with pytest.raises(MacroError):
        duration_ms("5 minutes")


@given(st.integers(min_value=1, max_value=10**12))
def test_format_duration_round_trips(ms: int) -> None:
    assert duration_ms(format_duration(ms)) == ms


@given(st.text())
def test_escaped_values_match_only_themselves(value: str) -> None:
    assert re.fullmatch(escape_regex(value), value, flags=re.DOTALL)


@given(st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), min_size=1, max_size=5))
def test_alternation_matches_exactly_the_chosen_ids(ids: list[str]) -> None:
    chosen = Variable("meter", tuple(ids), multi=True)
    pattern = run("^$meter$", chosen)
    for value in ids:
        assert re.fullmatch(pattern, value)
    assert not re.fullmatch(pattern, ids[0] + "/")  # '/' is not an id character
