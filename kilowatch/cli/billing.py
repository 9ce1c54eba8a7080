"""The billing commands' bodies: `kilowatch bill`, `kilowatch recost`, `kilowatch import-urdb`.

Glue between the pure billing package, the plant file and InfluxDB. Each `run_*` takes plain
arguments and returns an exit status; problems a person must fix raise BillingError (or
TariffError, ConfigError, InfluxReadError), which the CLI shows as `error: ...`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pydantic import Field
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kilowatch.billing.chart import draw_chart
from kilowatch.billing.compute import compute_bill, lookback_months
from kilowatch.billing.errors import BillingError
from kilowatch.billing.periods import parse_period, period_containing, shifted
from kilowatch.billing.recost import recost
from kilowatch.billing.render import bill_csv, bill_json, bill_table
from kilowatch.billing.urdb import import_urdb, tariff_yaml
from kilowatch.config import load_config
from kilowatch.influx.reader import InfluxReader, InfluxSource
from kilowatch.influx.schema import ENERGY_TAGS, stored_energy_lines
from kilowatch.influx.writer import (
    ApiVersion,
    InfluxTarget,
    InfluxWriteError,
    InfluxWriter,
    RetryPolicy,
    detect_version,
    open_writer,
    write_with_retry,
)
from kilowatch.settings import InfluxSettings
from kilowatch.tariff import PlantTariff, load_tariff

logger = logging.getLogger(__name__)

OutputFormat = Literal["table", "json", "csv"]
DEFAULT_PLANT_FILE = Path("config/kilowatch.example.yaml")
RECOST_CHUNK_S = 86_400  # one day of readings per read-write-delete step
PROGRESS_LOG_S = 10.0  # a progress log line this often when not on a terminal
WRITE_BATCH = 5_000
WRITE_RETRY = RetryPolicy(initial_s=1.0, max_s=8.0, max_attempts=5)


class BillingSettings(InfluxSettings):
    """Settings of `kilowatch bill` and `kilowatch recost`: the plant file and InfluxDB."""

    config: Path = Field(DEFAULT_PLANT_FILE, description="plant file (YAML)")

    @property
    def source(self) -> InfluxSource:
        """Where the readings are read from."""
        return InfluxSource(
            self.influx_url, self.influx_bucket, self.influx_token.get_secret_value()
        )


def plant_tariff(
    config: Path, plant: str, tariff: Path | None = None, meter: str | None = None
) -> PlantTariff:
    """The plant's tariff (or `tariff` instead) in the plant's timezone, from the plant file;
    `meter`, when given, must be one of the plant's meters."""
    plants = load_config(config).plant_by_id
    found = plants.get(plant)
    if found is None:
        raise BillingError(
            f"plant {plant!r} is not in {config}; known plants: {', '.join(sorted(plants))}"
        )
    meters = sorted(m.id for m in found.meters)
    if meter is not None and meter not in meters:
        raise BillingError(
            f"--meter {meter!r} is not a meter of plant {plant} in {config}; its meters: "
            f"{', '.join(meters)}"
        )
    return PlantTariff(load_tariff(tariff or found.tariff), found.zone)


def check_chart_path(chart: Path, plant: str, period: str) -> Path:
    """--chart checked before any work: a .png file in a folder that exists, or a folder (the
    bill then names its file in it, see run_bill)."""
    if chart.is_dir():
        return chart
    if chart.suffix.lower() != ".png":
        raise BillingError(
            f"--chart {chart} must name a .png file (or an existing folder to write into)"
        )
    if not chart.parent.is_dir():
        raise BillingError(f"--chart {chart}: folder {chart.parent} does not exist")
    return chart


def run_bill(
    *,
    config: Path,
    plant: str,
    period: str,
    influx: InfluxSource,
    meter: str | None = None,
    output: OutputFormat = "table",
    chart: Path | None = None,
    tariff: Path | None = None,
    out: TextIO | None = None,
    now: float | None = None,
) -> int:
    """Print the bill of a plant (or one meter alone) for a billing period such as 2026-10
    (or 'current'); a period in progress gives the bill so far and a projection."""
    out = out or sys.stdout
    costing = plant_tariff(config, plant, tariff, meter)
    now = time.time() if now is None else now
    read_day = costing.tariff.billing.read_day
    if period == "current":
        target = period_containing(int(now), costing.zone, read_day)
    else:
        target = parse_period(period, costing.zone, read_day)
    if target.start_ts > now:
        raise BillingError(f"billing period {target.label} has not started yet")
    first = shifted(target, -lookback_months(costing), costing.zone, read_day)
    reader = InfluxReader(influx)
    try:
        readings = reader.readings(plant, first.start_ts, target.end_ts, meter)
    finally:
        reader.close()
    ends = readings["ts"].to_numpy()
    if not ((ends > target.start_ts) & (ends <= target.end_ts)).any():
        who = f"meter {meter} of plant {plant}" if meter else f"plant {plant}"
        raise BillingError(
            f"no readings of {who} in billing period {target.label} ({target.first_day} to "
            f"{target.next_first_day}) in database {influx.database} at {influx.url}: check "
            "--plant, --period and --influx-bucket, or whether the bridge stored any"
        )
    scope = f"meter {meter} of plant {plant}" if meter else f"plant {plant}"
    bill = compute_bill(costing, readings, target, account=meter is None, scope=scope, now=now)
    bill = replace(bill, plant=plant, meter=meter)
    if output == "json":
        out.write(bill_json(bill))
    elif output == "csv":
        out.write(bill_csv(bill))
    else:
        Console(file=out, width=120).print(bill_table(bill, costing.zone))
    if chart is not None:
        if chart.is_dir():
            chart = chart / f"bill-{plant}{f'-{meter}' if meter else ''}-{target.label}.png"
        draw_chart(costing, bill, readings, chart)
        logger.info("chart written to %s", chart)
    return 0


def _write(writer: InfluxWriter, lines: list[str], spool: Path) -> None:
    """Write with retries; if it still fails, keep the lines in `spool` and say so."""
    for k in range(0, len(lines), WRITE_BATCH):
        try:
            write_with_retry(writer, lines[k : k + WRITE_BATCH], WRITE_RETRY)
        except InfluxWriteError as err:
            spool.write_text("\n".join(lines[k:]) + "\n", encoding="utf-8")
            raise BillingError(
                f"writing re-costed points failed ({err}); the old points are all still "
                f"stored, and the {len(lines) - k} unwritten lines are in {spool}: run "
                "recost again, or write them with curl --data-binary @FILE "
                "'<influx>/write?db=<db>&precision=ns'"
            ) from None


def local_instant(text: str, zone: ZoneInfo, option: str = "--from") -> int:
    """'2026-10-01' (00:00 local) or '2026-10-01T06:30' (local) or with an offset, as Unix s."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BillingError(
            f"{option} {text!r} must be a date or time such as 2026-10-01 or 2026-10-01T06:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp())


def replaced_runs(
    points: pd.DataFrame, new_period: np.ndarray, tariff_key: str
) -> list[tuple[dict[str, str], list[tuple[int, int]]]]:
    """The old points a re-costing moves to another series (their period or tariff tag
    changes), per old series, as runs [first_ts, last_ts] of readings that follow each other
    (each starts where the one before ended). Deleting exactly these runs after writing the new
    points cannot touch a reading stored meanwhile: a reading at another time falls between
    runs, and one at the same time is the same reading, already rewritten."""
    if points.empty:
        return []
    tags = [name for name in ENERGY_TAGS if name in points]
    moved = points.assign(_new_period=new_period)
    changed = (moved["period"].astype(str) != moved["_new_period"].astype(str)) | (
        moved["tariff"].astype(str) != tariff_key
    )
    moved = moved[changed.to_numpy()]
    found = []
    for key, series in moved.groupby(tags, dropna=False, sort=True):
        values = key if isinstance(key, tuple) else (key,)
        series_tags = {
            name: "" if pd.isna(value) else str(value)
            for name, value in zip(tags, values, strict=True)
        }
        ts = series["time"].to_numpy(np.int64)
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        interval = series["interval_s"].to_numpy(np.int64)[order]
        breaks = np.flatnonzero(np.diff(ts) != interval[1:]) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(ts)]]) - 1
        runs = [(int(ts[a]), int(ts[b])) for a, b in zip(starts, stops, strict=True)]
        found.append((series_tags, runs))
    return found


@dataclass
class RecostSummary:
    """What a re-costing changed (or would change): per meter, readings and cost before/after."""

    readings: dict[str, int] = field(default_factory=dict)
    cost_before: dict[str, float] = field(default_factory=dict)
    cost_after: dict[str, float] = field(default_factory=dict)

    def add(self, points: pd.DataFrame, new_cost: np.ndarray) -> None:
        """Count one chunk's points with their old and new costs."""
        frame = pd.DataFrame(
            {
                "meter": points["meter"].astype(str),
                "before": pd.to_numeric(points.get("cost"), errors="coerce"),
                "after": new_cost,
            }
        )
        for meter, group in frame.groupby("meter"):
            name = str(meter)
            self.readings[name] = self.readings.get(name, 0) + len(group)
            before = float(group["before"].fillna(0.0).sum())
            self.cost_before[name] = self.cost_before.get(name, 0.0) + before
            self.cost_after[name] = self.cost_after.get(name, 0.0) + float(group["after"].sum())

    def table(self, title: str, currency_before: str, currency_after: str) -> Table:
        """Per meter: readings, cost before (stored, in the plant's currency), cost after (in
        the new tariff's) and the change; then the totals. Two currencies: no change column,
        as one amount cannot be taken from the other."""
        same = currency_before == currency_after
        table = Table(title=title, show_footer=True)
        table.add_column("meter", footer="total")
        table.add_column("readings", justify="right", footer=f"{sum(self.readings.values()):,}")
        before, after = sum(self.cost_before.values()), sum(self.cost_after.values())
        columns = ((f"before ({currency_before})", before), (f"after ({currency_after})", after))
        for name, total in columns:
            table.add_column(name, justify="right", footer=f"{total:,.2f}")
        if same:
            table.add_column("change", justify="right", footer=f"{after - before:+,.2f}")
        for meter in sorted(self.readings):
            was, now = self.cost_before[meter], self.cost_after[meter]
            cells = [meter, f"{self.readings[meter]:,}", f"{was:,.2f}", f"{now:,.2f}"]
            table.add_row(*cells, *([f"{now - was:+,.2f}"] if same else []))
        return table


def run_recost(
    *,
    config: Path,
    plant: str,
    start: str | int,
    end: str | int,
    influx: InfluxSource,
    tariff: Path | None = None,
    org: str = "",
    influx_version: str = "auto",
    meter: str | None = None,
    dry_run: bool = False,
    progress: bool = True,
    spool_dir: Path = Path("."),
    out: TextIO | None = None,
    after_read: Callable[[int, int], None] | None = None,
) -> int:
    """Cost again every stored reading of a plant (or one meter) whose ts is in [start, end),
    a day at a time: read, write the re-costed points, then delete the old points that moved
    to another series (replaced_runs), so a reading the bridge stores meanwhile is never lost.

    `start` and `end`: Unix seconds, or dates/times in the plant's local time (local_instant).
    `dry_run`: change nothing, print the cost before and after. `progress`: a bar (on a
    terminal); otherwise a log line every PROGRESS_LOG_S. `after_read(lo, hi)`: tests only,
    called between reading a day and writing it (where the bridge may store readings).
    """
    out = out or sys.stdout
    costing = plant_tariff(config, plant, tariff, meter)
    start_ts = start if isinstance(start, int) else local_instant(start, costing.zone, "--from")
    end_ts = end if isinstance(end, int) else local_instant(end, costing.zone, "--to")
    if end_ts <= start_ts:
        raise BillingError("--to must come after --from")
    version: ApiVersion = "1" if influx_version == "1" else "2"
    if influx_version == "auto":
        version = detect_version(influx.url)
    reader = InfluxReader(influx)
    writer = (
        None
        if dry_run
        else open_writer(InfluxTarget(influx.url, influx.database, org, influx.token), version)
    )
    types = reader.field_types()
    summary = RecostSummary()
    days = -(-(end_ts - start_ts) // RECOST_CHUNK_S)
    next_log = time.monotonic() + PROGRESS_LOG_S
    what = f"{plant}/{meter}" if meter else plant
    try:
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"re-costing {what}", total=end_ts - start_ts)
            for day, lo in enumerate(range(start_ts, end_ts, RECOST_CHUNK_S), start=1):
                hi = min(lo + RECOST_CHUNK_S, end_ts)
                points = reader.points(plant, lo, hi)
                if meter is not None and not points.empty:
                    points = points[points["meter"] == meter].reset_index(drop=True)
                if after_read is not None:
                    after_read(lo, hi)
                costs = recost(costing, points)
                if not points.empty:
                    summary.add(points, np.asarray(costs.cost, dtype=np.float64))
                if writer is not None and not points.empty:
                    lines = stored_energy_lines(points, costs, costing.tariff.key, types)
                    _write(writer, lines, spool_dir / f"recost-{plant}-{lo}.lp")
                    for tags, runs in replaced_runs(points, costs.period, costing.tariff.key):
                        reader.delete_series_runs(tags, runs, version=version, org=org)
                bar.update(task, advance=hi - lo)
                if not progress and (time.monotonic() >= next_log or day == days):
                    logger.info(
                        "re-costing %s: day %d of %d, %d readings so far",
                        what,
                        day,
                        days,
                        sum(summary.readings.values()),
                    )
                    next_log = time.monotonic() + PROGRESS_LOG_S
    finally:
        reader.close()
        if writer is not None:
            writer.close()
    done = sum(summary.readings.values())
    if dry_run:
        title = (
            f"dry run: re-costing {what} with {costing.tariff.key} would change (nothing written)"
        )
        # The stored costs are in the plant's own tariff's currency; the new ones in costing's.
        stored = plant_tariff(config, plant) if tariff is not None else costing
        table = summary.table(title, stored.tariff.currency, costing.tariff.currency)
        Console(file=out, width=120).print(table)
        return 0
    logger.info("re-costed %d readings of %s with %s", done, what, costing.tariff.key)
    if done == 0:
        logger.warning("no stored readings of %s in that range: nothing to re-cost", what)
    return 0


def run_import_urdb(
    source: Path, out: Path | None, tariff_id: str | None = None, version: str | None = None
) -> int:
    """Turn a URDB rate JSON document into a tariff file (to `out`, or stdout)."""
    if out is not None:
        if out.is_dir():
            raise BillingError(f"--out {out} is a folder: name the tariff file, e.g. {out}/x.yaml")
        if not out.parent.is_dir():
            raise BillingError(f"--out {out}: folder {out.parent} does not exist")
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise BillingError(f"URDB document {source} cannot be read as JSON: {reason}") from None
    raw = import_urdb(doc, tariff_id=tariff_id, version=version)
    text = tariff_yaml(
        raw, f"# Imported from the OpenEI URDB document {source.name} by kilowatch import-urdb.\n"
    )
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise BillingError(f"cannot write --out {out}: {err.strerror or err}") from None
    sys.stdout.write(f"wrote {out} (tariff ID {raw['id']}, version {raw['version']})\n")
    return 0
