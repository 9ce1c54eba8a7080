"""`kilowatch alerts ...`: write Grafana's alerting provisioning files, check them for drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kilowatch.alerts.build import (
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    AlertBuildError,
    build_alerts,
    check_alerts,
)
from kilowatch.cli.generated import run_build, run_check

app = typer.Typer(
    help="Grafana alert rules, contact points and notification policy as code.",
    no_args_is_help=True,
)

SrcOption = Annotated[Path, typer.Option("--src", help="folder of *.alerts.py files")]
OutOption = Annotated[Path, typer.Option("--out", help="folder Grafana provisions alerting from")]


@app.command("build")
def build(src: SrcOption = DEFAULT_SRC_DIR, out: OutOption = DEFAULT_OUT_DIR) -> None:
    """Write rules.yaml, contact-points.yaml and policies.yaml into the provisioning folder."""
    run_build(lambda: build_alerts(src, out), (AlertBuildError,))


@app.command("check")
def check(src: SrcOption = DEFAULT_SRC_DIR, out: OutOption = DEFAULT_OUT_DIR) -> None:
    """Exit 1 when the provisioning files differ from what the Python generates."""
    run_check(lambda: check_alerts(src, out), (AlertBuildError,), f"{out} matches {src}")
