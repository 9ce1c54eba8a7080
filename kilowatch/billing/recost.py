"""Re-costing stored readings: points of measurement `energy` in, the same points costed anew.

Pure: the adapter reads the points (every tag and field), calls `recost_lines`, deletes the
time range and writes the lines. Costing twice gives the same lines, so re-costing is
idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from kilowatch.billing.errors import BillingError
from kilowatch.influx.lineprotocol import NS_PER_S, escape_tag, format_field, number_texts
from kilowatch.tariff import PlantTariff

ENERGY = "energy"
TAGS = ("line", "meter", "period", "plant", "tariff")  # sorted, as the bridge writes them
FIRST = ("energy_kwh", "cost", "rate", "interval_s")


def recost_lines(
    plant: PlantTariff, points: pd.DataFrame, field_types: Mapping[str, str]
) -> list[str]:
    """Line protocol for `points` (columns time, the tags and the fields) costed by `plant`.

    Tags period and tariff and fields cost and rate are replaced; every other tag and field is
    written back as read (integers stay integers, per `field_types`).
    """
    if points.empty:
        return []
    missing = [c for c in ("time", "energy_kwh", "interval_s", "plant", "meter") if c not in points]
    if missing:
        raise BillingError(f"stored energy points lack {', '.join(missing)}; cannot re-cost them")
    ts = points["time"].to_numpy(np.int64)
    costs = plant.cost_many(
        ts, points["interval_s"].to_numpy(np.int64), points["energy_kwh"].to_numpy(np.float64)
    )
    heads = _heads(points, costs.period, escape_tag(plant.tariff.key))
    line = heads + "energy_kwh=" + _floats(points["energy_kwh"].to_numpy(np.float64))
    line = line + ",cost=" + _floats(costs.cost) + ",rate=" + _floats(costs.rate)
    # The bridge's first fields, then the others by name: one order whatever the columns' order.
    others = sorted(
        c for c in points.columns if c in field_types and c not in FIRST and c not in TAGS
    )
    for name in ("interval_s", *others):
        values = points[name]
        present = values.notna().to_numpy()
        text = np.full(len(points), "", dtype=object)
        if present.any():
            text[present] = f",{escape_tag(name)}=" + _column(values[present], field_types[name])
        line = line + text
    line = line + " " + (ts * NS_PER_S).astype(str).astype(object)
    return line.tolist()


def _floats(values: np.ndarray) -> np.ndarray:
    """Floats as the bridge writes them (the shortest text that reads back the same)."""
    return np.array(number_texts(values.tolist()), dtype=object)


def _column(values: pd.Series, kind: str) -> np.ndarray:
    """A field column in its stored type (JSON gives 3 for the float 3.0)."""
    if kind == "integer":
        return values.astype(np.int64).astype(str).to_numpy(dtype=object) + "i"
    if kind == "float":
        return _floats(values.astype(np.float64).to_numpy())
    return np.array([format_field(v) for v in values.tolist()], dtype=object)


def _heads(points: pd.DataFrame, periods: np.ndarray, tariff_tag: str) -> np.ndarray:
    """'energy,line=..,meter=..,period=..,plant=..,tariff=.. ' for each point (tags sorted)."""
    line = (
        points["line"].astype(object).fillna("")
        if "line" in points
        else pd.Series("", index=points.index)
    )
    code = np.zeros(len(points), dtype=np.int64)
    names = []
    for column in (line, points["meter"], pd.Series(periods), points["plant"]):
        codes, uniques = pd.factorize(column.astype(str).to_numpy())
        code = code * len(uniques) + codes
        names.append(uniques)
    combos, inverse = np.unique(code, return_inverse=True)
    made = []
    for combo in combos.tolist():
        parts = []
        for uniques in reversed(names):
            parts.append(str(uniques[combo % len(uniques)]))
            combo //= len(uniques)
        plant, period, meter, lin = parts
        made.append(
            f"{ENERGY}{f',line={escape_tag(lin)}' if lin else ''},meter={escape_tag(meter)},"
            f"period={escape_tag(period)},plant={escape_tag(plant)},tariff={tariff_tag} "
        )
    return np.array(made, dtype=object)[inverse]
