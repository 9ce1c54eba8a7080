"""Re-costed points: new period, tariff, cost and rate; everything else as stored; idempotent."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.billing.recost import recost
from kilowatch.influx.lineprotocol import NS_PER_S
from kilowatch.influx.schema import stored_energy_lines
from kilowatch.tariff import PlantTariff
from tests.billing.samples import TOU, plant
from tests.tariff.samples import local, utc

TARIFF = plant({**TOU, "tax_percent": 16, "version": "2"}, "America/Mexico_City")
TYPES = {
    "energy_kwh": "float",
    "cost": "float",
    "rate": "float",
    "interval_s": "integer",
    "seq": "integer",
    "power_kw": "float",
}


def recost_lines(tariff: PlantTariff, points: pd.DataFrame, types: dict[str, str]) -> list[str]:
    """The lines the CLI writes for re-costed points."""
    return stored_energy_lines(points, recost(tariff, points), tariff.tariff.key, types)


def parse(lines: list[str]) -> pd.DataFrame:
    """Line protocol as written by recost_lines (ids need no escaping) back into columns."""
    rows = []
    for text in lines:
        head, fields, time_ns = text.split(" ")
        _, *tags = head.split(",")
        row: dict[str, Any] = dict(tag.split("=") for tag in tags)
        for field in fields.split(","):
            name, value = field.split("=")
            row[name] = int(value[:-1]) if value.endswith("i") else float(value)
        row["time"] = int(time_ns) // NS_PER_S
        rows.append(row)
    return pd.DataFrame(rows)


point = st.fixed_dictionaries(
    {
        "time": st.integers(utc(2026, 10, 1), utc(2026, 10, 8)),
        "interval_s": st.sampled_from([60, 300, 900, 3600]),
        "energy_kwh": st.floats(0, 100, allow_nan=False),
        "meter": st.sampled_from(["m1", "m2", "m3"]),
        "line": st.sampled_from(["l1", "l2"]),
        "seq": st.one_of(st.none(), st.integers(0, 10**9)),
        "power_kw": st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False)),
    },
)


@settings(max_examples=50, deadline=None)
@given(st.lists(point, min_size=1, max_size=40, unique_by=lambda p: (p["meter"], p["time"])))
def test_recosting_twice_changes_nothing(points: list[dict[str, Any]]) -> None:
    stored = pd.DataFrame(points).assign(
        plant="p1", period="old", tariff="old@1", cost=1.0, rate=1.0
    )
    once = recost_lines(TARIFF, stored, TYPES)
    again = recost_lines(TARIFF, parse(once), TYPES)
    assert again == once
    back = parse(once)
    expected = TARIFF.cost_many(
        stored["time"].to_numpy(), stored["interval_s"].to_numpy(), stored["energy_kwh"].to_numpy()
    )
    assert back["cost"].tolist() == expected.cost.tolist()
    assert back["period"].tolist() == expected.period.tolist()
    assert set(back["tariff"]) == {"test-tou@2"}
    assert back["meter"].tolist() == stored["meter"].tolist()
    assert back["line"].tolist() == stored["line"].tolist()
    if "seq" in back:
        assert back["seq"].fillna(-1).tolist() == stored["seq"].fillna(-1).tolist()
    for text, had_power in zip(once, stored["power_kw"].notna(), strict=True):
        assert ("power_kw=" in text) == had_power  # a field a point lacks stays absent
    assert all(
        " " + str(t * NS_PER_S) in text for t, text in zip(stored["time"], once, strict=True)
    )


def test_integer_fields_keep_their_type() -> None:
    stored = pd.DataFrame(
        {
            "time": [local("America/Mexico_City", 2026, 10, 5, 19)],
            "interval_s": [900.0],
            "energy_kwh": [3.0],
            "seq": [7.0],
            "meter": ["m1"],
            "plant": ["p1"],
            "line": [np.nan],
        }
    )
    [text] = recost_lines(TARIFF, stored, TYPES)
    # 18:45-19:00 local is peak: 0.30 x 1.16 = 0.348 per kWh; 3 kWh cost 1.044
    assert text == (
        "energy,meter=m1,period=peak,plant=p1,tariff=test-tou@2 "
        "energy_kwh=3.0,cost=1.044,rate=0.348,interval_s=900i,seq=7i "
        f"{local('America/Mexico_City', 2026, 10, 5, 19) * NS_PER_S}"
    )
