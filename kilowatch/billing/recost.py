"""Re-costing stored readings: points of measurement `energy` in, their new costs out (pure).

The CLI reads the points (every tag and field), calls `recost`, lays the points out again with
kilowatch.influx.schema.stored_energy_lines, deletes the time range and writes the lines.
Costing twice gives the same lines, so re-costing is idempotent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kilowatch.billing.errors import BillingError
from kilowatch.tariff import CostBatch, PlantTariff

REQUIRED = ("time", "energy_kwh", "interval_s", "plant", "meter")


def recost(plant: PlantTariff, points: pd.DataFrame) -> CostBatch:
    """The cost, rate and period of each stored point (columns time, the tags and the fields)
    by `plant`'s tariff."""
    missing = [c for c in REQUIRED if c not in points]
    if missing and not points.empty:
        raise BillingError(f"stored energy points lack {', '.join(missing)}; cannot re-cost them")
    if points.empty:
        return plant.cost_many([], [], [])
    return plant.cost_many(
        points["time"].to_numpy(np.int64),
        points["interval_s"].to_numpy(np.int64),
        points["energy_kwh"].to_numpy(np.float64),
    )
