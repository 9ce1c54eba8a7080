"""`kilowatch dashboards ...`: regenerate the provisioned JSON, or check that it has not drifted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kilowatch.dashboards.build import (
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    DashboardBuildError,
    build_dashboards,
    check_dashboards,
)

dashboards_app = typer.Typer(
    help="Grafana dashboards as code (grafanalib): build the provisioned JSON, check for drift.",
    no_args_is_help=True,
)

SrcOption = Annotated[Path, typer.Option("--src", help="folder of *.dashboard.py files")]
OutOption = Annotated[Path, typer.Option("--out", help="folder Grafana provisions dashboards from")]


@dashboards_app.command("build")
def build(src: SrcOption = DEFAULT_SRC_DIR, out: OutOption = DEFAULT_OUT_DIR) -> None:
    """Write one JSON file per *.dashboard.py into the provisioning folder."""
    try:
        written = build_dashboards(src, out)
    except DashboardBuildError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    for path in written:
        typer.echo(f"wrote {path}")


@dashboards_app.command("check")
def check(src: SrcOption = DEFAULT_SRC_DIR, out: OutOption = DEFAULT_OUT_DIR) -> None:
    """Exit 1 when the provisioned JSON differs from what the Python generates."""
    try:
        problems = check_dashboards(src, out)
    except DashboardBuildError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{out} matches {src}")
