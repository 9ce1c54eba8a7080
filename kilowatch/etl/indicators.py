"""Energy performance indicators (ISO 50006 style): per line, a baseline regression of energy
on production (and degree-days when given), its R², and the CUSUM of savings against it.

Pure: a DataFrame in, an EnpiResult of DataFrames out; the chart is drawn separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from kilowatch.config import PlantConfig
from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import (
    check_columns,
    days,
    explain_day,
    explain_number,
    numbers,
    pa,
    renamed,
)
from kilowatch.etl.frames import validate as validate_schema

ALIASES = {
    "day": "date",
    "line_id": "line",
    "production": "units",
    "production_units": "units",
    "quantity": "units",
    "qty": "units",
    "energy": "energy_kwh",
    "kwh": "energy_kwh",
    "heating_degree_days": "hdd",
    "cooling_degree_days": "cdd",
}
UNIT_COLUMNS = {"energy_mwh": ("energy_kwh", 1000.0)}
DRIVERS = ("units", "hdd", "cdd")  # what energy is regressed on, when present
MIN_SPARE_OBSERVATIONS = 2  # baseline rows beyond one per coefficient
MIN_GOOD_R_SQUARED = 0.75  # the usual acceptance level of an energy baseline model
MODEL_COLUMNS = [
    "line",
    "baseline_from",
    "baseline_to",
    "observations",
    "intercept_kwh",
    "kwh_per_unit",
    "kwh_per_hdd",
    "kwh_per_cdd",
    "r_squared",
    "adj_r_squared",
    "cv_rmse_percent",
    "p_value_units",
]
TRACKING_COLUMNS = [
    "day",
    "line",
    "baseline",
    "units",
    "energy_kwh",
    "expected_kwh",
    "savings_kwh",
    "cusum_kwh",
    "enpi_kwh_per_unit",
]


@dataclass(frozen=True, slots=True)
class EnpiResult:
    """models: one row per line (coefficients, R², CV(RMSE)); tracking: one row per line and
    day (expected energy from the baseline model, savings = expected - actual, their CUSUM)."""

    models: pd.DataFrame
    tracking: pd.DataFrame
    notes: tuple[str, ...] = ()


def validate_enpi(
    frame: pd.DataFrame, plant: PlantConfig, source: str = "the EnPI table"
) -> pd.DataFrame:
    """A table of date, line, units [, energy_kwh, hdd, cdd] checked, or EtlValidationError.

    Out: day (datetime64), line, units and each of energy_kwh, hdd, cdd given (float64).
    Without energy_kwh the energy comes from InfluxDB (see etl.commands.run_enpi).
    """
    frame = renamed(frame, ALIASES)
    factors: dict[str, float] = {}
    for name, (column, factor) in UNIT_COLUMNS.items():
        if name in frame.columns and column not in frame.columns:
            frame = renamed(frame, {name: column})
            factors[column] = factor
    check_columns(frame, source, ["date", "line", "units"])
    lines = sorted(line.id for line in plant.lines)
    optional = [c for c in ("energy_kwh", "hdd", "cdd") if c in frame.columns]

    def number(name: str) -> pa.Column:
        return pa.Column(
            "float64",
            nullable=False,
            parsers=pa.Parser(numbers),
            checks=pa.Check(lambda s: (s >= 0) & np.isfinite(s), error="is negative"),
        )

    def unique_rows(data: pd.DataFrame) -> pd.Series:
        return ~(data[["date", "line"]].duplicated(keep=False) & data["date"].notna())

    def in_order(data: pd.DataFrame) -> pd.Series:
        latest = data["date"].groupby(data["line"], sort=False).cummax()
        before = latest.groupby(data["line"], sort=False).shift(1)
        return ~(data["date"] < before).fillna(False)

    schema = pa.DataFrameSchema(
        {
            "date": pa.Column(nullable=False, parsers=pa.Parser(days)),
            "line": pa.Column(
                checks=pa.Check(
                    lambda s: s.isin(lines),
                    error=f"is not a line of plant {plant.id} (its lines: {', '.join(lines)})",
                )
            ),
            "units": number("units"),
            **{name: number(name) for name in optional},
        },
        checks=[
            pa.Check(unique_rows, error="repeats another row's date and line (duplicate rows)"),
            pa.Check(
                in_order,
                error="is earlier than a row above it of the same line (dates out of order)",
            ),
        ],
    )
    explain = {"date": explain_day, **{c: explain_number for c in ["units", *optional]}}
    checked = validate_schema(schema, frame, source, explain)
    out = pd.DataFrame(
        {"day": checked["date"].astype("datetime64[s]"), "line": checked["line"].astype(str)},
        index=checked.index,
    )
    for name in ["units", *optional]:
        out[name] = checked[name].astype("float64") * factors.get(name, 1.0)
    return out


def enpi(data: pd.DataFrame, baseline_end: date | None = None) -> EnpiResult:
    """Fit energy_kwh ~ units (+ hdd, cdd when present) per line by OLS on the baseline rows
    (day <= baseline_end; by default the first half of each line's days) and track the rest.

    data: columns day, line, units, energy_kwh [, hdd, cdd] (validate_enpi, energy joined).
    CUSUM runs over every row in day order; OLS residuals sum to 0 over the baseline, so the
    CUSUM is 0 at its end and then shows the savings accumulated since.
    """
    import statsmodels.api as sm

    if "energy_kwh" not in data.columns:
        raise EtlError("the EnPI data has no energy_kwh column")
    models, tracks, notes = [], [], []
    for line, rows in data.sort_values(["line", "day"]).groupby("line", sort=True):
        rows = rows.dropna(subset=["energy_kwh"]).reset_index(drop=True)
        if rows.empty:  # typically: energy read from InfluxDB, and none stored for this line
            raise EtlError(
                f"line {line} has no energy on any of its days: add an energy_kwh column, or "
                "check that InfluxDB holds its readings (--influx-url, --influx-bucket)"
            )
        if baseline_end is None:
            in_base = pd.Series(np.arange(len(rows)) < math.ceil(len(rows) / 2))
        else:
            in_base = rows["day"] <= pd.Timestamp(baseline_end)
        base = rows.loc[in_base]
        drivers = [
            d for d in DRIVERS if d in rows.columns and base[d].nunique() > 1
        ]  # a constant driver cannot be told apart from the intercept
        needed = len(drivers) + 1 + MIN_SPARE_OBSERVATIONS
        if len(base) < needed:
            raise EtlError(
                f"line {line} has {len(base)} baseline rows; a model on "
                f"{', '.join(drivers) or 'nothing'} needs at least {needed}: give more days "
                "before --baseline-end"
            )
        if not drivers:
            raise EtlError(f"line {line}: production does not vary in the baseline; nothing to fit")
        design = sm.add_constant(base[drivers].to_numpy(np.float64), has_constant="add")
        fit = sm.OLS(base["energy_kwh"].to_numpy(np.float64), design).fit()
        expected = fit.predict(
            sm.add_constant(rows[drivers].to_numpy(np.float64), has_constant="add")
        )
        rmse = math.sqrt(float(fit.ssr) / max(len(base) - len(drivers) - 1, 1))
        mean = float(base["energy_kwh"].mean())
        coefficient = dict(zip(["const", *drivers], fit.params, strict=True))
        pvalues = dict(zip(["const", *drivers], fit.pvalues, strict=True))
        models.append(
            {
                "line": line,
                "baseline_from": base["day"].min(),
                "baseline_to": base["day"].max(),
                "observations": len(base),
                "intercept_kwh": coefficient["const"],
                "kwh_per_unit": coefficient.get("units", math.nan),
                "kwh_per_hdd": coefficient.get("hdd", math.nan),
                "kwh_per_cdd": coefficient.get("cdd", math.nan),
                "r_squared": float(fit.rsquared),
                "adj_r_squared": float(fit.rsquared_adj),
                "cv_rmse_percent": 100.0 * rmse / mean if mean else math.nan,
                "p_value_units": pvalues.get("units", math.nan),
            }
        )
        if fit.rsquared < MIN_GOOD_R_SQUARED:
            notes.append(
                f"line {line}: R² {fit.rsquared:.2f} is below 0.75; the baseline explains "
                "energy poorly (another driver, or a shorter period, may be needed)"
            )
        track = rows[["day", "line", "units", "energy_kwh"]].copy()
        for driver in ("hdd", "cdd"):
            if driver in rows.columns:
                track[driver] = rows[driver]
        track["baseline"] = in_base.to_numpy()
        track["expected_kwh"] = expected
        track["savings_kwh"] = track["expected_kwh"] - track["energy_kwh"]
        track["cusum_kwh"] = track["savings_kwh"].cumsum()
        track["enpi_kwh_per_unit"] = track["energy_kwh"] / track["units"].where(track["units"] > 0)
        tracks.append(track[[*TRACKING_COLUMNS, *(d for d in ("hdd", "cdd") if d in track)]])
    if not models:
        raise EtlError("the EnPI data has no rows with energy")
    return EnpiResult(
        pd.DataFrame(models, columns=MODEL_COLUMNS),
        pd.concat(tracks, ignore_index=True),
        tuple(notes),
    )


def draw_enpi_chart(result: EnpiResult, path: Path, title: str = "") -> None:
    """A PNG, a row per line: energy against production with the baseline model (degree-days at
    their baseline mean), and the CUSUM of savings with the baseline's end marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EtlError(
            "--chart needs matplotlib; install it (pip install matplotlib) or leave --chart out"
        ) from None
    lines = list(result.models["line"])
    figure, axes = plt.subplots(len(lines), 2, figsize=(12, 3.6 * len(lines)), squeeze=False)
    for k, line in enumerate(lines):
        model = result.models.iloc[k]
        rows = result.tracking[result.tracking["line"] == line]
        scatter, cusum = axes[k]
        base, report = rows[rows["baseline"]], rows[~rows["baseline"]]
        scatter.scatter(base["units"], base["energy_kwh"], s=12, label="baseline")
        scatter.scatter(report["units"], report["energy_kwh"], s=12, label="reporting")
        # The model against production alone: degree-days held at their baseline mean.
        units = np.linspace(rows["units"].min(), rows["units"].max(), 50)
        level = float(model["intercept_kwh"]) + sum(
            float(model[f"kwh_per_{d}"]) * float(base[d].mean())
            for d in ("hdd", "cdd")
            if d in rows and not math.isnan(float(model[f"kwh_per_{d}"]))
        )
        unit_slope = float(model["kwh_per_unit"])
        scatter.plot(units, level + unit_slope * units, color="black", lw=1, label="baseline model")
        scatter.set_xlabel("units produced")
        scatter.set_ylabel("kWh")
        scatter.set_title(f"{line}: R² {model['r_squared']:.2f}")
        scatter.legend(loc="upper left", fontsize=8)
        cusum.plot(rows["day"], rows["cusum_kwh"], color="tab:green")
        cusum.axhline(0, color="grey", lw=0.8)
        cusum.axvline(model["baseline_to"], color="grey", ls="--", lw=0.8)
        cusum.set_ylabel("CUSUM of savings, kWh")
        cusum.set_title(f"{line}: savings since the baseline (up = saving)")
        cusum.tick_params(axis="x", labelrotation=30)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as err:
        raise EtlError(f"cannot write the chart to {path}: {err.strerror}") from None
    finally:
        plt.close(figure)
