"""The bodies of `kilowatch etl production|bill|enpi`: load, validate, transform, write, report.

Each `run_*` takes plain arguments and returns an exit status; problems a person must fix raise
EtlError (a bad file: EtlValidationError listing every bad row) before anything is written.
"""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

import pandas as pd
from rich.console import Console
from rich.table import Table

from kilowatch.billing import compute_bill, lookback_months
from kilowatch.billing.periods import parse_period, shifted
from kilowatch.config import PlantConfig, load_config
from kilowatch.contract import check_id
from kilowatch.etl import bills, indicators, production
from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import read_table
from kilowatch.etl.greenbutton import intervals_points, read_greenbutton, validate_intervals
from kilowatch.etl.influx import InfluxSettings, daily_energy, write_points
from kilowatch.influx.reader import InfluxReader
from kilowatch.tariff import PlantTariff, load_tariff

logger = logging.getLogger(__name__)

GREEN_BUTTON_SUFFIXES = frozenset({".xml", ".espi"})
DEFAULT_UTILITY_METER = "utility"
CHART_SUFFIXES = (".png", ".svg", ".pdf")
MAX_ROWS_SHOWN = 62  # a month of two lines; longer tables are summarised per line


def resolve_plant(config: Path, plant: str | None) -> PlantConfig:
    """The plant from the plant file; --plant may be left out when the file has only one."""
    plants = load_config(config).plant_by_id
    if plant is None:
        if len(plants) == 1:
            return next(iter(plants.values()))
        raise EtlError(f"{config} has several plants: pass --plant ({', '.join(sorted(plants))})")
    found = plants.get(plant)
    if found is None:
        raise EtlError(
            f"plant {plant!r} is not in {config}; known plants: {', '.join(sorted(plants))}"
        )
    return found


def check_output(path: Path | None, option: str) -> None:
    """Refuse an output file whose folder is missing before anything is read or written."""
    if path is not None and not path.parent.is_dir():
        raise EtlError(f"{option} {path}: the folder {path.parent} does not exist")


def plant_costing(plant: PlantConfig) -> PlantTariff:
    """The plant's tariff in its time zone."""
    return PlantTariff(load_tariff(plant.tariff), plant.zone)


def _console(out: TextIO | None) -> Console:
    return Console(file=out or sys.stdout, width=140)


def _table(frame: pd.DataFrame, title: str, digits: int = 3) -> Table:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(
            str(column), justify="right" if frame[column].dtype.kind in "fiu" else "left"
        )
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(value, digits) for value in row))
    return table


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:,.{digits}f}"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def run_production(
    path: Path,
    *,
    config: Path,
    plant: str | None,
    influx: InfluxSettings | None,
    output: Path | None = None,
    progress: bool | None = None,
    out: TextIO | None = None,
) -> int:
    """Load a production file as `production` points, then energy intensity per line and day.

    influx=None validates only (a dry run): nothing is read or written.
    """
    check_output(output, "--output")
    site = resolve_plant(config, plant)
    raw = read_table(path, production.ALIASES)
    validated = production.validate_production(raw, site, str(path))
    console = _console(out)
    if influx is None:
        console.print(f"{path}: {len(validated)} rows are valid (dry run: nothing written)")
        return 0
    lines = production.production_points(validated, site.id)
    write_points(influx, lines, f"{len(lines)} production points", progress=progress)
    first, last = validated["day"].min().date(), validated["day"].max().date()
    energy = daily_energy(influx, site, first, last)
    intensity = production.energy_intensity(validated, energy)
    write_points(influx, production.intensity_points(intensity, site), "energy intensity points")
    if output is not None:
        intensity.to_csv(output, index=False, date_format="%Y-%m-%d", float_format="%.12g")
    missing = int(intensity["energy_kwh"].isna().sum())
    console.print(
        f"{path}: wrote {len(lines)} production points of plant {site.id} ({first} to {last})"
    )
    console.print(_intensity_summary(intensity))
    if missing:
        console.print(
            f"{missing} line-day(s) have production but no stored energy: no intensity for them"
        )
    return 0


def _intensity_summary(intensity: pd.DataFrame) -> Table:
    """The table per line and day, or per line for long files (ratios over the days that
    have stored energy)."""
    if len(intensity) <= MAX_ROWS_SHOWN:
        return _table(intensity, "energy intensity per line and day")
    known = intensity.dropna(subset=["energy_kwh"])
    per_line = intensity.groupby("line", as_index=False)["units"].sum()
    sums = known.groupby("line")[["units", "energy_kwh", "cost"]].sum()
    per_line = per_line.join(sums.add_suffix("_known"), on="line")
    produced = per_line["units_known"].where(per_line["units_known"] > 0)
    per_line["energy_kwh"] = per_line["energy_kwh_known"]
    per_line["cost"] = per_line["cost_known"]
    per_line["kwh_per_unit"] = per_line["energy_kwh"] / produced
    per_line["cost_per_unit"] = per_line["cost"] / produced
    columns = ["line", "units", "energy_kwh", "cost", "kwh_per_unit", "cost_per_unit"]
    return _table(per_line[columns], "energy intensity per line (days with stored energy)")


def run_bill(
    path: Path,
    *,
    config: Path,
    plant: str | None,
    influx: InfluxSettings | None,
    threshold_percent: float = bills.DEFAULT_THRESHOLD_PERCENT,
    intervals: Path | None = None,
    meter: str = DEFAULT_UTILITY_METER,
    output: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """A bills table (CSV/Excel): reconcile it with kilowatch's bills. A Green Button file
    (XML): load its intervals as the utility meter's readings, costed by the plant's tariff."""
    check_output(output, "--output")
    if threshold_percent < 0:  # also on a dry run, which reconciles nothing
        raise EtlError(f"--threshold must be a percentage >= 0, not {threshold_percent:g}")
    site = resolve_plant(config, plant)
    costing = plant_costing(site)
    console = _console(out)
    if path.suffix.lower() in GREEN_BUTTON_SUFFIXES:
        try:
            check_id(meter, "--meter")
        except ValueError as err:
            raise EtlError(str(err)) from None
        readings = validate_intervals(read_greenbutton(path), str(path))
        lines = intervals_points(readings, costing, site.id, meter)
        if influx is not None:
            write_points(influx, lines, f"{len(lines)} utility meter readings")
        verb = "wrote" if influx is not None else "read (dry run: nothing written)"
        console.print(f"{path}: {verb} {len(lines)} intervals of meter {meter} of plant {site.id}")
        return 0
    utility = bills.validate_bills(read_table(path, bills.ALIASES), site, str(path))
    labels = list(utility["billing_period"])
    read_day = costing.tariff.billing.read_day
    if intervals is not None:
        readings = validate_intervals(read_greenbutton(intervals), str(intervals))
        source = f"the intervals of {intervals}"
    elif influx is not None:
        periods = sorted(
            (parse_period(label, costing.zone, read_day) for label in labels),
            key=lambda p: p.start_ts,
        )
        first = shifted(periods[0], -lookback_months(costing), costing.zone, read_day)
        reader = InfluxReader(influx.source)
        try:
            readings = reader.readings(site.id, first.start_ts, periods[-1].end_ts)
        finally:
            reader.close()
        source = "the readings stored in InfluxDB"
    else:
        console.print(f"{path}: {len(utility)} bills are valid (dry run: nothing compared)")
        return 0
    computed = [
        compute_bill(costing, readings, label, scope=f"plant {site.id}") for label in labels
    ]
    for bill in computed:
        if not bill.readings:
            console.print(f"{bill.period.label}: kilowatch has no readings for this period")
    reconciled = bills.reconcile(utility, bills.bill_components(computed), threshold_percent)
    if influx is not None:
        write_points(
            influx, bills.reconciliation_points(reconciled, site, read_day), "reconciliation"
        )
    if output is not None:
        reconciled.to_csv(output, index=False, float_format="%.12g")
    flagged = int(reconciled["flagged"].sum())
    console.print(
        _table(
            reconciled.assign(flagged=reconciled["flagged"].map({True: "FLAG", False: ""})),
            f"{path} against kilowatch's bills from {source} ({costing.tariff.currency})",
            digits=2,
        )
    )
    console.print(
        f"{flagged} of {len(reconciled)} amounts differ by more than {threshold_percent:g} %"
    )
    return 0


def _models_shown(models: pd.DataFrame) -> pd.DataFrame:
    """The model table in a terminal's width: short names, drivers the data had."""
    shown = pd.DataFrame(
        {
            "line": models["line"],
            "baseline": [
                f"{a:%Y-%m-%d}..{b:%Y-%m-%d}"
                for a, b in zip(models["baseline_from"], models["baseline_to"], strict=True)
            ],
            "days": models["observations"].astype(str),
            "base kWh": models["intercept_kwh"],
            "kWh/unit": models["kwh_per_unit"],
            "kWh/HDD": models["kwh_per_hdd"],
            "kWh/CDD": models["kwh_per_cdd"],
            "R²": models["r_squared"],
            "CV(RMSE) %": models["cv_rmse_percent"],
        }
    )
    return shown.dropna(axis=1, how="all")


def run_enpi(
    path: Path,
    *,
    config: Path,
    plant: str | None,
    influx: InfluxSettings | None,
    baseline_end: date | None = None,
    chart: Path | None = None,
    output: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Baseline models and CUSUM per line from a table of production (and energy, degree-days);
    without an energy_kwh column the energy per line and day comes from InfluxDB."""
    check_output(output, "--output")
    check_output(chart, "--chart")
    if chart is not None and chart.suffix.lower() not in CHART_SUFFIXES:
        raise EtlError(f"--chart {chart}: the file name must end in {', '.join(CHART_SUFFIXES)}")
    site = resolve_plant(config, plant)
    data = indicators.validate_enpi(read_table(path, indicators.ALIASES), site, str(path))
    console = _console(out)
    if "energy_kwh" not in data.columns:
        if influx is None:
            raise EtlError(
                f"{path} has no energy_kwh column, and energy is read from InfluxDB: "
                "leave out --dry-run, or add the column"
            )
        first, last = data["day"].min().date(), data["day"].max().date()
        energy = daily_energy(influx, site, first, last)
        data = data.merge(energy[["day", "line", "energy_kwh"]], on=["day", "line"], how="left")
    result = indicators.enpi(data, baseline_end)
    console.print(_table(_models_shown(result.models), f"energy baselines of plant {site.id}"))
    last_cusum = result.tracking.groupby("line")["cusum_kwh"].last()
    for line, cusum in last_cusum.items():
        console.print(f"{line}: CUSUM of savings {cusum:,.1f} kWh (positive: less than baseline)")
    for note in result.notes:
        console.print(f"note: {note}")
    if output is not None:
        result.tracking.to_csv(output, index=False, date_format="%Y-%m-%d", float_format="%.12g")
    if chart is not None:
        indicators.draw_enpi_chart(result, chart, f"plant {site.id}: energy baselines and CUSUM")
    return 0
