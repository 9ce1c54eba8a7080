"""Production volumes: validate a client's file, lay it out as `production` points, and join
it to stored energy for energy intensity (kWh and cost per unit, per line and local day).

Pure: DataFrames in, DataFrames or line-protocol text out. The loader (frames.read_table), the
InfluxDB adapter (etl.influx) and the command (etl.commands) sit around these functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kilowatch.config import PlantConfig
from kilowatch.etl.frames import (
    Instants,
    check_columns,
    days,
    explain_day,
    explain_number,
    local_midnights,
    numbers,
    pa,
    validate,
)
from kilowatch.influx.schema import ENERGY_INTENSITY_FIELDS, intensity_lines, production_lines

ALIASES = {
    "day": "date",
    "shift_start": "start",
    "start_time": "start",
    "line_id": "line",
    "product_id": "product",
    "sku": "product",
    "part": "product",
    "quantity": "units",
    "qty": "units",
    "units_produced": "units",
    "produced": "units",
    "count": "units",
}
VALIDATED_COLUMNS = ["time_ns", "day", "line", "product", "shift", "units"]
INTENSITY_COLUMNS = ["day", "line", *ENERGY_INTENSITY_FIELDS]  # fields: kilowatch.influx.schema


def production_schema(
    plant: PlantConfig, time_column: str, instants: Instants
) -> pa.DataFrameSchema:
    """The rules a production table must follow for this plant (pandera, every failure kept)."""
    lines = sorted(line.id for line in plant.lines)
    key = [time_column, "line", "product", "shift"]
    parser = pa.Parser(days) if time_column == "date" else pa.Parser(instants)

    def unique_rows(frame: pd.DataFrame) -> pd.Series:
        known = frame[time_column].notna()
        return ~(frame[[c for c in key if c in frame]].duplicated(keep=False) & known)

    def in_order(frame: pd.DataFrame) -> pd.Series:
        group = [c for c in ("line", "product", "shift") if c in frame]
        times = frame[time_column]
        latest = times.groupby([frame[c] for c in group], sort=False).cummax()
        earlier = latest.groupby([frame[c] for c in group], sort=False).shift(1)
        return ~(times < earlier).fillna(False)

    return pa.DataFrameSchema(
        {
            time_column: pa.Column(nullable=False, parsers=parser),
            "line": pa.Column(
                checks=pa.Check(
                    lambda s: s.isin(lines),
                    error=f"is not a line of plant {plant.id} (its lines: {', '.join(lines)})",
                )
            ),
            "product": pa.Column(checks=pa.Check(lambda s: s.str.strip() != "", error="is empty")),
            "units": pa.Column(
                "float64",
                nullable=False,
                parsers=pa.Parser(numbers),
                checks=pa.Check(lambda s: ~(s < 0) & ~np.isinf(s), error="is negative or infinite"),
            ),
            "shift": pa.Column(required=False),
        },
        checks=[
            pa.Check(
                unique_rows,
                error="repeats another row's time, line, product and shift (duplicate rows)",
            ),
            pa.Check(
                in_order,
                error="is earlier than a row above it of the same line and product "
                "(dates out of order)",
            ),
        ],
    )


def validate_production(
    frame: pd.DataFrame, plant: PlantConfig, source: str = "the production table"
) -> pd.DataFrame:
    """A production table checked and normalised, or EtlValidationError naming every bad row.

    In: text columns `date` (a local day) or `start` (a shift's start: local, or with an
    offset), `line`, `product`, `units`, optionally `shift`; rows named by their index.
    Out: time_ns (UTC ns: local midnight of the day, or the start), day (local date, datetime64),
    line, product, shift ("" if none), units (float64).
    """
    check_columns(frame, source, ["line", "product", "units"], one_of=[["date", "start"]])
    time_column = "date" if "date" in frame.columns else "start"
    instants = Instants(plant.zone, frame[time_column] if time_column == "start" else None)
    explain = {"units": explain_number, "date": explain_day, "start": instants.explain}
    checked = validate(production_schema(plant, time_column, instants), frame, source, explain)
    out = pd.DataFrame(index=checked.index)
    if time_column == "date":
        out["time_ns"] = local_midnights(checked["date"], plant.zone)
        out["day"] = checked["date"]
    else:
        start = checked["start"]
        out["time_ns"] = start.astype("int64")
        out["day"] = start.dt.tz_convert(plant.zone).dt.tz_localize(None).dt.normalize()
    out["day"] = out["day"].astype("datetime64[s]")
    out["line"] = checked["line"].astype(str)
    out["product"] = checked["product"].astype(str).str.strip()
    out["shift"] = checked["shift"].astype(str).str.strip() if "shift" in checked else ""
    out["units"] = checked["units"].astype("float64")
    return out[VALIDATED_COLUMNS]


def production_points(validated: pd.DataFrame, plant_id: str) -> list[str]:
    """Line protocol for measurement `production`, one point per row (see influx.schema)."""
    return production_lines(
        plant_id,
        validated["line"].tolist(),
        validated["product"].tolist(),
        validated["shift"].tolist(),
        validated["units"].to_numpy(np.float64).tolist(),
        validated["time_ns"].to_numpy(np.int64).tolist(),
    )


def daily_production(validated: pd.DataFrame) -> pd.DataFrame:
    """Units per line and local day: columns day, line, units."""
    return validated.groupby(["day", "line"], as_index=False, sort=True)["units"].sum()


def energy_intensity(production: pd.DataFrame, energy: pd.DataFrame) -> pd.DataFrame:
    """kWh and cost per unit per line and local day.

    production: columns day, line, units (daily_production, or validated rows: summed here).
    energy: columns day, line, energy_kwh, cost (stored energy per line and local day).
    A day without stored energy keeps NaN energy; a day with 0 units has no per-unit values.
    """
    units = production.groupby(["day", "line"], as_index=False, sort=True)["units"].sum()
    merged = units.merge(
        energy[["day", "line", "energy_kwh", "cost"]], on=["day", "line"], how="left"
    )
    produced = merged["units"].where(merged["units"] > 0)
    merged["kwh_per_unit"] = merged["energy_kwh"] / produced
    merged["cost_per_unit"] = merged["cost"] / produced
    return merged[INTENSITY_COLUMNS].sort_values(["day", "line"], ignore_index=True)


def intensity_points(intensity: pd.DataFrame, plant: PlantConfig) -> list[str]:
    """Line protocol for measurement `energy_intensity`, at local midnight of each day."""
    midnight = local_midnights(intensity["day"], plant.zone).tolist()
    return intensity_lines(plant.id, intensity.to_dict("records"), midnight)
