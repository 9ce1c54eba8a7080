"""The billing commands' bodies: `kilowatch bill`, `kilowatch recost`, `kilowatch import-urdb`.

Glue between the pure billing package, the plant file and InfluxDB. Each `run_*` takes plain
arguments and returns an exit status; problems a person must fix raise BillingError (or
TariffError, ConfigError, InfluxReadError), which the CLI shows as `error: ...`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO
from zoneinfo import ZoneInfo

from pydantic import Field
from rich.console import Console
from rich.progress import Progress

from kilowatch.billing.chart import draw_chart
from kilowatch.billing.compute import compute_bill, lookback_months
from kilowatch.billing.errors import BillingError
from kilowatch.billing.periods import parse_period, shifted
from kilowatch.billing.recost import recost
from kilowatch.billing.render import bill_csv, bill_json, bill_table
from kilowatch.billing.urdb import import_urdb, tariff_yaml
from kilowatch.config import load_config
from kilowatch.influx.reader import InfluxReader, InfluxSource
from kilowatch.influx.schema import stored_energy_lines
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
RECOST_CHUNK_S = 86_400  # one day of readings per read-delete-write step
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


def plant_tariff(config: Path, plant: str, tariff: Path | None = None) -> PlantTariff:
    """The plant's tariff (or `tariff` instead) in the plant's timezone, from the plant file."""
    plants = load_config(config).plant_by_id
    found = plants.get(plant)
    if found is None:
        raise BillingError(
            f"plant {plant!r} is not in {config}; known plants: {', '.join(sorted(plants))}"
        )
    return PlantTariff(load_tariff(tariff or found.tariff), found.zone)


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
) -> int:
    """Print the bill of a plant (or one meter alone) for a billing period such as 2026-10."""
    out = out or sys.stdout
    costing = plant_tariff(config, plant, tariff)
    target = parse_period(period, costing.zone, costing.tariff.billing.read_day)
    first = shifted(
        target, -lookback_months(costing), costing.zone, costing.tariff.billing.read_day
    )
    reader = InfluxReader(influx)
    try:
        readings = reader.readings(plant, first.start_ts, target.end_ts, meter)
    finally:
        reader.close()
    scope = f"meter {meter} of plant {plant}" if meter else f"plant {plant}"
    bill = compute_bill(costing, readings, target, account=meter is None, scope=scope)
    if output == "json":
        out.write(bill_json(bill))
    elif output == "csv":
        out.write(bill_csv(bill))
    else:
        Console(file=out, width=120).print(bill_table(bill, costing.zone))
    if chart is not None:
        draw_chart(costing, bill, readings, chart)
    return 0


def _write(writer: InfluxWriter, lines: list[str], spool: Path) -> None:
    """Write with retries; if it still fails, keep the lines in `spool` and say so."""
    for k in range(0, len(lines), WRITE_BATCH):
        try:
            write_with_retry(writer, lines[k : k + WRITE_BATCH], WRITE_RETRY)
        except InfluxWriteError as err:
            spool.write_text("\n".join(lines[k:]) + "\n", encoding="utf-8")
            raise BillingError(
                f"writing re-costed points failed ({err}) after their old versions were "
                f"deleted; the {len(lines) - k} unwritten lines are in {spool}: write "
                "them with curl --data-binary @FILE '<influx>/write?db=<db>&precision=ns'"
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
    progress: bool = True,
    spool_dir: Path = Path("."),
) -> int:
    """Cost again every stored reading of a plant whose ts is in [start, end), a day at a time.

    `start` and `end`: Unix seconds, or dates/times in the plant's local time (local_instant).
    """
    costing = plant_tariff(config, plant, tariff)
    start_ts = start if isinstance(start, int) else local_instant(start, costing.zone, "--from")
    end_ts = end if isinstance(end, int) else local_instant(end, costing.zone, "--to")
    if end_ts <= start_ts:
        raise BillingError("--to must come after --from")
    version: ApiVersion = "1" if influx_version == "1" else "2"
    if influx_version == "auto":
        version = detect_version(influx.url)
    reader = InfluxReader(influx)
    writer = open_writer(InfluxTarget(influx.url, influx.database, org, influx.token), version)
    types = reader.field_types()
    done = 0
    try:
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"re-costing {plant}", total=end_ts - start_ts)
            for lo in range(start_ts, end_ts, RECOST_CHUNK_S):
                hi = min(lo + RECOST_CHUNK_S, end_ts)
                points = reader.points(plant, lo, hi)
                lines = stored_energy_lines(
                    points, recost(costing, points), costing.tariff.key, types
                )
                if lines:
                    reader.delete_energy(plant, lo, hi, version=version, org=org)
                    _write(writer, lines, spool_dir / f"recost-{plant}-{lo}.lp")
                done += len(lines)
                bar.update(task, advance=hi - lo)
    finally:
        reader.close()
        writer.close()
    logger.info("re-costed %d readings of plant %s with %s", done, plant, costing.tariff.key)
    return 0


def run_import_urdb(
    source: Path, out: Path | None, tariff_id: str | None = None, version: str | None = None
) -> int:
    """Turn a URDB rate JSON document into a tariff file (to `out`, or stdout)."""
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BillingError(f"URDB document {source} cannot be read as JSON: {err}") from None
    text = tariff_yaml(
        import_urdb(doc, tariff_id=tariff_id, version=version),
        f"# Imported from the OpenEI URDB document {source.name} by kilowatch.billing.urdb.\n",
    )
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    return 0
