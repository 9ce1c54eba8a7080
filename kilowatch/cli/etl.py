"""`kilowatch etl KIND FILE`: load the data clients send (production, bills, EnPI tables).

Heavy libraries (pandas, pandera, statsmodels, matplotlib) are imported inside the commands,
so `kilowatch --help` stays fast.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Load the data clients send: production volumes, utility bills, energy baselines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FileArgument = Annotated[Path, typer.Argument(help="CSV or Excel (.xlsx) file")]
PlantOption = Annotated[
    str | None, typer.Option(help="plant id (may be left out when the plant file has one)")
]
ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="KILOWATCH_CONFIG", help="plant file"),
]
UrlOption = Annotated[
    str, typer.Option(envvar="KILOWATCH_INFLUX_URL", help="InfluxDB URL (env KILOWATCH_INFLUX_URL)")
]
BucketOption = Annotated[
    str,
    typer.Option(
        envvar="KILOWATCH_INFLUX_BUCKET",
        help="bucket, or 1.x database (env KILOWATCH_INFLUX_BUCKET)",
    ),
]
OrgOption = Annotated[str, typer.Option(envvar="KILOWATCH_INFLUX_ORG", help="organisation (2.x)")]
VersionOption = Annotated[str, typer.Option(help="InfluxDB API: auto, 1 or 2")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="validate the file only: read and write nothing")
]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="also write a CSV")]
LogOption = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR")]

DEFAULT_PLANT_FILE = Path("config/kilowatch.example.yaml")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_INFLUX_URL = "http://localhost:8086"


def _run(main: Callable[[], int], log_level: str) -> None:
    """Run a command; a problem a person must fix becomes 'error: ...' and exit status 2."""
    from kilowatch.errors import USER_ERRORS
    from kilowatch.etl.errors import EtlError

    if log_level.upper() not in LOG_LEVELS:
        levels = ", ".join(LOG_LEVELS)
        typer.echo(f"error: --log-level must be one of {levels}, not {log_level!r}", err=True)
        raise typer.Exit(2)
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    errors: tuple[type[Exception], ...] = (EtlError, *USER_ERRORS)
    try:
        code = main()
    except errors as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _influx(url: str, bucket: str, org: str, version: str, dry_run: bool) -> Any:
    from kilowatch.etl.influx import InfluxSettings

    if dry_run:
        return None
    if version not in ("auto", "1", "2"):
        typer.echo(f"error: --influx-version must be auto, 1 or 2, not {version!r}", err=True)
        raise typer.Exit(2)
    # The token only ever comes from the environment.
    token = os.environ.get("KILOWATCH_INFLUX_TOKEN", "")
    return InfluxSettings(url.rstrip("/"), bucket, org, token, version)


@app.command("production")
def production(
    file: FileArgument,
    plant: PlantOption = None,
    config: ConfigOption = DEFAULT_PLANT_FILE,
    output: OutputOption = None,
    dry_run: DryRunOption = False,
    influx_url: UrlOption = DEFAULT_INFLUX_URL,
    influx_bucket: BucketOption = "kilowatch",
    influx_org: OrgOption = "kilowatch",
    influx_version: VersionOption = "auto",
    log_level: LogOption = "INFO",
) -> None:
    """Production volumes (date or start, line, product, units [, shift]) -> measurement
    `production`; then energy intensity (kWh and cost per unit) per line and local day."""
    from kilowatch.etl.commands import run_production

    influx = _influx(influx_url, influx_bucket, influx_org, influx_version, dry_run)
    _run(
        lambda: run_production(file, config=config, plant=plant, influx=influx, output=output),
        log_level,
    )


@app.command("bill")
def bill(
    file: Annotated[Path, typer.Argument(help="bills (.csv, .xlsx) or Green Button (.xml)")],
    plant: PlantOption = None,
    config: ConfigOption = DEFAULT_PLANT_FILE,
    threshold: Annotated[
        float, typer.Option(help="flag differences above this many percent")
    ] = 2.0,
    intervals: Annotated[
        Path | None,
        typer.Option(help="compute kilowatch's bills from this Green Button file, not InfluxDB"),
    ] = None,
    meter: Annotated[
        str, typer.Option(help="meter id of the Green Button intervals when loading them")
    ] = "utility",
    output: OutputOption = None,
    dry_run: DryRunOption = False,
    influx_url: UrlOption = DEFAULT_INFLUX_URL,
    influx_bucket: BucketOption = "kilowatch",
    influx_org: OrgOption = "kilowatch",
    influx_version: VersionOption = "auto",
    log_level: LogOption = "INFO",
) -> None:
    """Utility bills: reconcile them with kilowatch's, per month and component (CSV, Excel);
    or load Green Button intervals as the utility meter's readings (XML)."""
    from kilowatch.etl.commands import run_bill

    influx = _influx(influx_url, influx_bucket, influx_org, influx_version, dry_run)
    _run(
        lambda: run_bill(
            file,
            config=config,
            plant=plant,
            influx=influx,
            threshold_percent=threshold,
            intervals=intervals,
            meter=meter,
            output=output,
        ),
        log_level,
    )


@app.command("enpi")
def enpi(
    file: FileArgument,
    plant: PlantOption = None,
    config: ConfigOption = DEFAULT_PLANT_FILE,
    baseline_end: Annotated[
        str | None,
        typer.Option(help="last day of the baseline, e.g. 2026-06-30 (default: first half)"),
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="draw the models and CUSUM to this PNG")
    ] = None,
    output: OutputOption = None,
    dry_run: DryRunOption = False,
    influx_url: UrlOption = DEFAULT_INFLUX_URL,
    influx_bucket: BucketOption = "kilowatch",
    influx_org: OrgOption = "kilowatch",
    influx_version: VersionOption = "auto",
    log_level: LogOption = "INFO",
) -> None:
    """Energy performance indicators: a baseline of energy on production (and degree-days)
    per line, R², and the CUSUM of savings; energy from the file or from InfluxDB."""
    from kilowatch.etl.commands import run_enpi

    try:
        end = None if baseline_end is None else date.fromisoformat(baseline_end)
    except ValueError:
        typer.echo(
            f"error: --baseline-end must be a day such as 2026-06-30, not {baseline_end!r}",
            err=True,
        )
        raise typer.Exit(2) from None
    influx = _influx(influx_url, influx_bucket, influx_org, influx_version, dry_run)
    _run(
        lambda: run_enpi(
            file,
            config=config,
            plant=plant,
            influx=influx,
            baseline_end=end,
            chart=chart,
            output=output,
        ),
        log_level,
    )
