"""Line protocol formatting: nothing a value contains can start a new point or tag."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from kilowatch.influx.lineprotocol import (
    escape_string_field,
    escape_tag,
    format_point,
    number_texts,
)

# A float field value as InfluxDB's line protocol reads it (models/points.go, scanNumber).
FLOAT_TEXT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def test_point_has_sorted_tags_typed_fields_and_time() -> None:
    line = format_point("energy", {"plant": "p1", "meter": "m1"}, {"a": 1.5, "n": 3, "s": "x"}, 10)
    assert line == 'energy,meter=m1,plant=p1 a=1.5,n=3i,s="x" 10'


def test_empty_tags_are_left_out() -> None:
    assert format_point("rejected", {"plant": "", "reason": "bad_topic"}, {"count": 1}, 5) == (
        "rejected,reason=bad_topic count=1i 5"
    )


def test_tag_escaping() -> None:
    assert escape_tag("a b,c=d") == r"a\ b\,c\=d"


def test_string_field_escaping() -> None:
    assert escape_string_field('say "hi"\\\nbye') == r'"say \"hi\"\\\nbye"'


@given(st.text(max_size=50), st.text(max_size=50))
def test_no_value_can_add_a_line(tag: str, text: str) -> None:
    line = format_point("m", {"t": tag}, {"f": text}, 1)
    assert "\n" not in line
    assert line.endswith(" 1")


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=50))
def test_float_texts_read_back_as_the_same_floats(values: list[float]) -> None:
    texts = number_texts(values)
    assert [float(text) for text in texts] == values
    assert [math.copysign(1, float(t)) for t in texts] == [math.copysign(1, v) for v in values]
    assert all(FLOAT_TEXT.fullmatch(text) for text in texts)


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=50))
def test_integer_texts_are_their_digits(values: list[int]) -> None:
    assert number_texts(values) == [str(v) for v in values]


def test_nan_and_infinity_keep_the_text_influxdb_refuses() -> None:
    assert number_texts([1.5, math.nan, -math.inf]) == ["1.5", "nan", "-inf"]
