"""The one id rule: what can stand unescaped in an MQTT topic level and an InfluxDB tag."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.contract import ID_RULE, check_id

ID_CHARS = st.sampled_from("ABCXYZabcxyz0189_.-")


@given(st.text(ID_CHARS, min_size=1, max_size=64))
def test_ids_of_the_allowed_characters_pass_unchanged(value: str) -> None:
    assert check_id(value) == value


@pytest.mark.parametrize("value", ["", "a" * 65, "a b", "a/b", "a,b", "a=b", "plant\n", "é"])
def test_anything_else_is_refused_with_the_rule_and_what_it_is(value: str) -> None:
    with pytest.raises(ValueError, match=f"meter id .* must be {ID_RULE}"):
        check_id(value, "meter")
