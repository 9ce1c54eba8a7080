"""`kilowatch etl KIND FILE`: load the data clients send (production, bills, EnPI tables).

Heavy libraries (pandas, pandera, statsmodels, matplotlib) are imported inside the commands,
so `kilowatch --help` stays fast.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from kilowatch.cli.etl_settings import EtlSettings

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
# Defaults come from kilowatch.settings (EtlSettings): a flag left out means its env var.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="plant file (env KILOWATCH_CONFIG) [default: config/kilowatch.example.yaml]",
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(help="InfluxDB URL (env KILOWATCH_INFLUX_URL) [default: http://localhost:8086]"),
]
BucketOption = Annotated[
    str | None,
    typer.Option(help="bucket, or 1.x database (env KILOWATCH_INFLUX_BUCKET) [default: kilowatch]"),
]
OrgOption = Annotated[
    str | None,
    typer.Option(help="organisation, 2.x (env KILOWATCH_INFLUX_ORG) [default: kilowatch]"),
]
VersionOption = Annotated[
    str | None,
    typer.Option(help="InfluxDB API: auto, 1 or 2 (env KILOWATCH_INFLUX_VERSION) [default: auto]"),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="validate the file only: read and write nothing")
]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="also write a CSV")]
LogOption = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR")]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FLAGS = {  # the flag of each setting, to name the one a person typed
    "config": "--config",
    "influx_url": "--influx-url",
    "influx_bucket": "--influx-bucket",
    "influx_org": "--influx-org",
    "influx_version": "--influx-version",
}


def _load(
    config: Path | None,
    url: str | None,
    bucket: str | None,
    org: str | None,
    version: str | None,
) -> EtlSettings:
    """The settings: the flags given over the KILOWATCH_* env vars."""
    from kilowatch.cli.etl_settings import EtlSettings

    return EtlSettings.load(
        config=config,
        influx_url=url,
        influx_bucket=bucket,
        influx_org=org,
        influx_version=version,
    )


def _run(main: Callable[[], int], log_level: str) -> None:
    """Run a command; a problem a person must fix becomes 'error: ...' and exit status 2."""
    from kilowatch.errors import USER_ERRORS
    from kilowatch.etl.errors import EtlError
    from kilowatch.settings import SettingsError

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
    except SettingsError as err:
        named = [
            f"{FLAGS[field] if given and field in FLAGS else 'KILOWATCH_' + field.upper()}: {why}"
            for field, why, given in err.problems
        ]
        typer.echo(f"error: {'; '.join(named) or err}", err=True)
        raise typer.Exit(2) from None
    except errors as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command("production")
def production(
    file: FileArgument,
    plant: PlantOption = None,
    config: ConfigOption = None,
    output: OutputOption = None,
    dry_run: DryRunOption = False,
    influx_url: UrlOption = None,
    influx_bucket: BucketOption = None,
    influx_org: OrgOption = None,
    influx_version: VersionOption = None,
    log_level: LogOption = "INFO",
) -> None:
    """Production volumes (date or start, line, product, units [, shift]) -> measurement
    `production`; then energy intensity (kWh and cost per unit) per line and local day."""
    from kilowatch.etl.commands import run_production

    def main() -> int:
        settings = _load(config, influx_url, influx_bucket, influx_org, influx_version)
        influx = None if dry_run else settings.influx()
        return run_production(
            file, config=settings.config, plant=plant, influx=influx, output=output
        )

    _run(main, log_level)


@app.command("bill")
def bill(
    file: Annotated[Path, typer.Argument(help="bills (.csv, .xlsx) or Green Button (.xml)")],
    plant: PlantOption = None,
    config: ConfigOption = None,
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
    influx_url: UrlOption = None,
    influx_bucket: BucketOption = None,
    influx_org: OrgOption = None,
    influx_version: VersionOption = None,
    log_level: LogOption = "INFO",
) -> None:
    """Utility bills: reconcile them with kilowatch's, per month and component (CSV, Excel);
    or load Green Button intervals as the utility meter's readings (XML)."""
    from kilowatch.etl.commands import run_bill

    def main() -> int:
        settings = _load(config, influx_url, influx_bucket, influx_org, influx_version)
        return run_bill(
            file,
            config=settings.config,
            plant=plant,
            influx=None if dry_run else settings.influx(),
            threshold_percent=threshold,
            intervals=intervals,
            meter=meter,
            output=output,
        )

    _run(main, log_level)


@app.command("enpi")
def enpi(
    file: FileArgument,
    plant: PlantOption = None,
    config: ConfigOption = None,
    baseline_end: Annotated[
        str | None,
        typer.Option(help="last day of the baseline, e.g. 2026-06-30 (default: first half)"),
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="draw the models and CUSUM to this PNG")
    ] = None,
    output: OutputOption = None,
    dry_run: DryRunOption = False,
    influx_url: UrlOption = None,
    influx_bucket: BucketOption = None,
    influx_org: OrgOption = None,
    influx_version: VersionOption = None,
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

    def main() -> int:
        settings = _load(config, influx_url, influx_bucket, influx_org, influx_version)
        return run_enpi(
            file,
            config=settings.config,
            plant=plant,
            influx=None if dry_run else settings.influx(),
            baseline_end=end,
            chart=chart,
            output=output,
        )

    _run(main, log_level)
