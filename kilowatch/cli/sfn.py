"""`kilowatch sfn`: start, follow, list and explain Step Functions executions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from kilowatch.sfn.client import SfnApi

app = typer.Typer(
    help="Follow the production Step Functions workflows: progress, ETA, results, errors.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="machine output (JSON) instead of text")]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="download the S3 results the output names into DIR"),
]
IntervalOption = Annotated[float, typer.Option("--interval", min=0.1, help="seconds between polls")]
RunsOption = Annotated[
    int,
    typer.Option("--runs", min=1, help="successful past runs the ETA's medians are taken over"),
]


def _run(body: Callable[[], int]) -> None:
    """Run a command body: a person's error is one 'error: ...' line and exit status 2."""
    from kilowatch.sfn.errors import SfnError

    try:
        code = body()
    except SfnError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _api() -> SfnApi:
    """Step Functions and S3 clients from boto3's standard settings."""
    from kilowatch.sfn.client import SfnApi

    return SfnApi.from_environment()


@app.command("run")
def run_command(
    state_machine: Annotated[str, typer.Argument(help="state machine name or ARN")],
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="execution input, a JSON file ('-': stdin)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="execution name (default: a unique one)")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="follow it to its end")] = False,
    output: OutputOption = None,
    as_json: JsonOption = False,
    interval: IntervalOption = 2.0,
    runs: RunsOption = 12,
) -> None:
    """Start an execution; with --watch follow it (exit 0 succeeded, 1 failed, 3 timed out)."""
    from kilowatch.sfn import commands

    _run(
        lambda: commands.run(
            _api(),
            state_machine,
            input_path=input_file,
            name=name,
            watch_it=watch,
            as_json=as_json,
            output_dir=output,
            poll_s=interval,
            runs=runs,
        )
    )


@app.command("watch")
def watch_command(
    execution_arn: Annotated[str, typer.Argument(help="execution ARN")],
    output: OutputOption = None,
    as_json: JsonOption = False,
    interval: IntervalOption = 2.0,
    runs: RunsOption = 12,
) -> None:
    """Follow an execution live: state now, states and Map items done, elapsed, ETA."""
    from kilowatch.sfn import commands

    _run(
        lambda: commands.watch(
            _api(), execution_arn, as_json=as_json, output_dir=output, poll_s=interval, runs=runs
        )
    )


@app.command("list")
def list_command(
    state_machine: Annotated[str, typer.Argument(help="state machine name or ARN")],
    limit: Annotated[int, typer.Option(min=1, help="how many of the newest")] = 20,
    status: Annotated[
        str | None, typer.Option(help="RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List a state machine's newest executions."""
    from kilowatch.sfn import commands

    statuses = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
    if status is not None and status.upper() not in statuses:
        typer.echo(
            f"error: --status must be one of {', '.join(statuses)}, not {status!r}", err=True
        )
        raise typer.Exit(2)
    _run(
        lambda: commands.list_executions(
            _api(),
            state_machine,
            limit=limit,
            status=status.upper() if status else None,
            as_json=as_json,
        )
    )


@app.command("explain")
def explain_command(
    execution_arn: Annotated[str, typer.Argument(help="execution ARN")],
    output: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Say in plain words how an execution ended: its results, or why it failed and what to do."""
    from kilowatch.sfn import commands

    _run(
        lambda: commands.explain_execution(
            _api(), execution_arn, as_json=as_json, output_dir=output
        )
    )
