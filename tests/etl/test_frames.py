"""The loaders' parsers: numbers, days, instants, headers, row lists (property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.etl.errors import row_ranges
from kilowatch.etl.frames import Instants, days, numbers, snake

SEATTLE = ZoneInfo("America/Los_Angeles")


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_numbers_read_back_what_was_written(value: float) -> None:
    texts = pd.Series([repr(value), f" {value!r} ", f"{value:,.6f}"])
    parsed = numbers(texts)
    assert parsed.iloc[0] == value and parsed.iloc[1] == value
    assert abs(parsed.iloc[2] - value) <= 1e-6 * max(1.0, abs(value))


@given(st.text(alphabet="abcxyz !?%", min_size=1))
def test_text_is_never_a_number(text: str) -> None:
    assert numbers(pd.Series([text])).isna().all()


@given(st.sets(st.integers(min_value=2, max_value=500), min_size=1))
def test_row_ranges_name_every_row_once(rows: set[int]) -> None:
    listed: set[int] = set()
    for part in row_ranges(sorted(rows)).split(", "):
        first, _, last = part.partition("-")
        listed |= set(range(int(first), int(last or first) + 1))
    assert listed == rows


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)))
def test_a_day_reads_only_as_itself(moment: datetime) -> None:
    day = moment.date()
    parsed = days(pd.Series([day.isoformat(), f"{day.isoformat()} 00:00:00", moment.isoformat()]))
    assert parsed.iloc[0].date() == day and parsed.iloc[1].date() == day
    assert (moment.time() == datetime.min.time()) == pd.notna(parsed.iloc[2])


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2080, 1, 1)))
def test_an_instant_is_the_same_local_with_offset_or_in_utc(naive_utc: datetime) -> None:
    instant = naive_utc.replace(tzinfo=UTC, microsecond=0)
    local = instant.astimezone(SEATTLE)
    forms = {
        "utc": instant.isoformat(),
        "local-offset": local.isoformat(),
    }
    for kind, text in forms.items():
        column = pd.Series([text])
        parser = Instants(SEATTLE, column)
        assert parser.kind == kind or (kind == "local-offset" and local.utcoffset() == timedelta(0))
        assert parser(column).iloc[0] == pd.Timestamp(instant)
    naive = pd.Series([local.replace(tzinfo=None).isoformat()])
    parsed = Instants(SEATTLE, naive)(naive).iloc[0]
    # A wall time repeated by the autumn clock change has no single instant: refused (NaT).
    repeated = local.replace(tzinfo=None, fold=1).replace(tzinfo=SEATTLE).utcoffset() != (
        local.replace(tzinfo=None, fold=0).replace(tzinfo=SEATTLE).utcoffset()
    )
    assert pd.isna(parsed) if repeated else parsed == pd.Timestamp(instant)


def test_headers_are_snake_case() -> None:
    assert snake(" Energy (kWh) ") == "energy_kwh"
    assert snake("Units-Produced") == "units_produced"
    assert snake("Shift start") == "shift_start"
