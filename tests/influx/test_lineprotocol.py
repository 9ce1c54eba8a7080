"""Line protocol formatting: nothing a value contains can start a new point or tag."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kilowatch.influx.lineprotocol import escape_string_field, escape_tag, format_point


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
