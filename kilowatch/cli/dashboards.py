"""`kilowatch dashboards ...`: build the provisioned JSON, check it for drift, push it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kilowatch.cli.generated import run_build, run_check
from kilowatch.dashboards.build import (
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    DashboardBuildError,
    build_dashboards,
    check_dashboards,
    render_all,
)
from kilowatch.dashboards.push import (
    DEFAULT_FOLDER,
    DEFAULT_TIMEOUT_S,
    TOKEN_ENV,
    URL_ENV,
    DashboardPushError,
    PushedDashboard,
    push_dashboards,
)

app = typer.Typer(
    help="Grafana dashboards as code (grafanalib): build the JSON, check drift, push to Grafana.",
    no_args_is_help=True,
)

SrcOption = Annotated[Path, typer.Option("--src", help="folder of *.dashboard.py files")]
OutOption = Annotated[Path, typer.Option("--out", help="folder Grafana provisions dashboards from")]


@app.command("build")
def build(src: SrcOption = DEFAULT_SRC_DIR, out: OutOption = DEFAULT_OUT_DIR) -> None:
    """Write one JSON file per *.dashboard.py into the provisioning folder."""
    run_build(lambda: build_dashboards(src, out), (DashboardBuildError,))


@app.command("check")
def check(src: SrcOption = DEFAULT_SRC_DIR, out: OutOption = DEFAULT_OUT_DIR) -> None:
    """Exit 1 when the provisioned JSON differs from what the Python generates."""
    run_check(lambda: check_dashboards(src, out), (DashboardBuildError,), f"{out} matches {src}")


@app.command("push")
def push(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            envvar=URL_ENV,
            help="Grafana's address, e.g. https://g-abc123.grafana-workspace.eu-west-1.amazonaws.com",
            show_default=False,
        ),
    ] = "",
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            help="a Grafana service account token (Editor role); prefer the environment variable",
            show_default=False,
        ),
    ] = "",
    folder: Annotated[
        str, typer.Option("--folder", help="Grafana folder the dashboards go into")
    ] = DEFAULT_FOLDER,
    src: SrcOption = DEFAULT_SRC_DIR,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=0.1, help="seconds to wait for each answer")
    ] = DEFAULT_TIMEOUT_S,
) -> None:
    """Save every generated dashboard into a folder of a running Grafana, replacing old copies."""

    def report(dashboard: PushedDashboard) -> None:
        typer.echo(f"pushed {dashboard.uid} (version {dashboard.version}): {dashboard.url}")

    try:
        if not url:
            raise DashboardPushError(f"no Grafana URL; pass --url or set {URL_ENV}")
        if not token:
            raise DashboardPushError(
                f"no Grafana token; set {TOKEN_ENV} (or pass --token) to a service account "
                "token with the Editor role"
            )
        rendered = render_all(src)
        pushed = push_dashboards(
            rendered,
            url=url,
            token=token,
            folder_title=folder,
            timeout_s=timeout_s,
            progress=report,
        )
    except (DashboardBuildError, DashboardPushError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{len(pushed)} dashboards in folder {folder!r} of {url.rstrip('/')}")
