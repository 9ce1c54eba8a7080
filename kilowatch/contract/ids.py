"""The one rule for plant, meter, line, agent and tariff ids, and the sentence that states it."""

from __future__ import annotations

import re

# \Z: "$" would let a final newline in. Such an id stands in an MQTT topic level and an
# InfluxDB tag without escaping.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
ID_RULE = "1-64 characters of A-Z a-z 0-9 _ . -"


def check_id(value: str, what: str = "") -> str:
    """`value` if it follows the id rule, else ValueError naming it (and `what` it is)."""
    if not ID_PATTERN.match(value):
        name = f"{what} id {value!r}" if what else repr(value)
        raise ValueError(f"{name} must be {ID_RULE}")
    return value
