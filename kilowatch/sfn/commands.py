"""Bodies of the `kilowatch sfn` commands: each returns the exit status for scripts."""

from __future__ import annotations

import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from kilowatch.sfn.client import SfnApi
from kilowatch.sfn.errors import SfnError
from kilowatch.sfn.eta import Eta, EtaModel
from kilowatch.sfn.explain import explain
from kilowatch.sfn.follow import follow
from kilowatch.sfn.history import Progress, progress_of, top_level_states
from kilowatch.sfn.learn import DEFAULT_RUNS, past_runs
from kilowatch.sfn.render import (
    duration,
    execution_json,
    explanation_lines,
    live_view,
    output_text,
    plain_line,
)
from kilowatch.sfn.results import S3Location, fetch, s3_locations

EXIT = {"SUCCEEDED": 0, "RUNNING": 0, "FAILED": 1, "TIMED_OUT": 3, "ABORTED": 3}
INTERRUPTED = 130  # Ctrl-C, as shells report it
PLAIN_EVERY_S = 30.0  # without a terminal: a line on every change, else one this often


def exit_status(status: str) -> int:
    """0 succeeded (or still running), 1 failed, 3 timed out or aborted."""
    return EXIT.get(status, 1)


def read_input(path: Path | None) -> str:
    """The execution input: a JSON file ('-' for stdin), '{}' without one."""
    if path is None:
        return "{}"
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as err:
        raise SfnError(f"cannot read --input {path}: {err.strerror}") from None
    try:
        json.loads(text)
    except ValueError as err:
        raise SfnError(f"--input {path} is not JSON: {err}") from None
    return text


def execution_name() -> str:
    """A unique, readable execution name: kilowatch-20261205T054012Z-3f9a."""
    return f"kilowatch-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def _eta_model(api: SfnApi, machine_arn: str, runs: int, console: Console) -> EtaModel | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return EtaModel(past_runs(api, machine_arn, runs))
    except (SfnError, ClientError, BotoCoreError) as err:
        console.print(f"no ETA: past runs could not be read ({err})", style="dim")
        return None


def _results(api: SfnApi, output: str | None, folder: Path | None, console: Console) -> None:
    locations = s3_locations(output)
    if not locations:
        return
    if folder is None:
        console.print("Results in S3 (download them with --output DIR):")
        for location in locations:
            console.print(f"  {location.uri}", highlight=False)
        return
    files = _fetch(api, locations, folder)
    console.print(f"Downloaded {len(files)} result file(s) to {folder}:")
    for path in files:
        console.print(f"  {path}", highlight=False)


def _fetch(api: SfnApi, locations: list[S3Location], folder: Path) -> list[Path]:
    """fetch(), with S3's refusals (no such key, access denied) as one sentence."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fetch(api.s3, locations, folder)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "error")
        raise SfnError(f"cannot download the results from S3 ({code}): {err}") from None
    except (BotoCoreError, OSError) as err:
        raise SfnError(f"cannot download the results into {folder}: {err}") from None


def report(
    api: SfnApi,
    execution: dict[str, Any],
    progress: Progress,
    *,
    as_json: bool,
    output_dir: Path | None,
    console: Console,
) -> int:
    """Print how the execution ended (output and results, or the explanation); exit status."""
    now_s = time.time()
    explanation = explain(progress) if progress.status not in ("SUCCEEDED", "RUNNING") else None
    output = execution.get("output") or progress.output
    if as_json:
        doc = execution_json(execution, progress, explanation, now_s)
        if output_dir is not None and progress.status == "SUCCEEDED":
            files = _fetch(api, s3_locations(output), output_dir)
            doc["downloaded"] = [str(p) for p in files]
        print(json.dumps(doc, indent=2, default=str))
        return exit_status(progress.status)
    if progress.status == "SUCCEEDED":
        console.print(
            f"Succeeded in {duration(progress.elapsed_s(now_s))}. Output:", style="bold green"
        )
        console.print(output_text(output), highlight=False, markup=False)
        _results(api, output, output_dir, console)
    elif explanation is not None:
        for line in explanation_lines(explanation):
            console.print(line, highlight=False, markup=False)
    return exit_status(progress.status)


def watch(
    api: SfnApi,
    execution_arn: str,
    *,
    as_json: bool = False,
    output_dir: Path | None = None,
    poll_s: float = 2.0,
    runs: int = DEFAULT_RUNS,
    console: Console | None = None,
) -> int:
    """Follow an execution live to its end, then report it."""
    console = console or Console()
    first = api.describe_execution(execution_arn)
    name = str(first.get("name", execution_arn.rsplit(":", 1)[-1]))
    model = _eta_model(api, str(first["stateMachineArn"]), runs, console) if not as_json else None
    last: dict[str, Any] = {"key": None, "at": 0.0}

    def plain(progress: Progress, eta: Eta | None, now_s: float) -> None:
        # A Distributed Map's items move without new parent events: their counts count too.
        maps = tuple(m.done for m in progress.maps.values())
        key = (progress.last_event_id, progress.status, maps)
        if key != last["key"] or now_s - last["at"] >= PLAIN_EVERY_S:
            line = plain_line(name, progress, eta, now_s)
            console.print(line, highlight=False, markup=False, soft_wrap=True)
            last.update(key=key, at=now_s)

    try:
        if as_json:
            followed = follow(api, execution_arn, lambda *_: None, poll_s=poll_s)
        elif console.is_terminal:
            with Live(console=console, refresh_per_second=4, transient=False) as live:

                def show(progress: Progress, eta: Eta | None, now_s: float) -> None:
                    live.update(live_view(name, progress, eta, now_s))

                followed = follow(api, execution_arn, show, eta_model=model, poll_s=poll_s)
        else:
            followed = follow(api, execution_arn, plain, eta_model=model, poll_s=poll_s)
    except KeyboardInterrupt:
        console.print(
            f"Stopped watching; the execution goes on. Again: kilowatch sfn watch {execution_arn}",
            highlight=False,
        )
        return INTERRUPTED
    return report(
        api,
        followed.execution,
        followed.progress,
        as_json=as_json,
        output_dir=output_dir,
        console=console,
    )


def run(
    api: SfnApi,
    machine: str,
    *,
    input_path: Path | None,
    name: str | None,
    watch_it: bool,
    as_json: bool = False,
    output_dir: Path | None = None,
    poll_s: float = 2.0,
    runs: int = DEFAULT_RUNS,
    console: Console | None = None,
) -> int:
    """Start an execution; follow it with --watch."""
    console = console or Console()
    input_text = read_input(input_path)
    arn = api.start_execution(api.machine_arn(machine), name or execution_name(), input_text)
    if not watch_it:
        if as_json:
            print(json.dumps({"executionArn": arn, "status": "RUNNING"}))
        else:
            console.print(f"Started {arn}", highlight=False, soft_wrap=True)
            console.print(
                f"Follow it with: kilowatch sfn watch {arn}", highlight=False, soft_wrap=True
            )
        return 0
    if not as_json:
        console.print(f"Started {arn}", highlight=False, soft_wrap=True)  # an ARN to copy whole
    return watch(
        api, arn, as_json=as_json, output_dir=output_dir, poll_s=poll_s, runs=runs, console=console
    )


def list_executions(
    api: SfnApi,
    machine: str,
    *,
    limit: int,
    status: str | None,
    as_json: bool,
    console: Console | None = None,
) -> int:
    """The newest executions of a state machine."""
    console = console or Console()
    executions = api.list_executions(api.machine_arn(machine), status=status, limit=limit)
    if as_json:
        print(json.dumps(executions, indent=2, default=str))
        return 0
    if not executions:
        console.print(f"{machine} has no executions" + (f" with status {status}" if status else ""))
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("name", "status", "started (UTC)", "took"):
        table.add_column(column)
    for execution in executions:
        start: datetime = execution["startDate"]
        stop: datetime | None = execution.get("stopDate")
        took = duration((stop - start).total_seconds()) if stop else "running"
        table.add_row(
            str(execution["name"]),
            str(execution["status"]),
            start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            took,
        )
    console.print(table)
    newest = executions[0]["executionArn"]
    console.print(
        f"Explain one by its ARN: kilowatch sfn explain {newest}", highlight=False, soft_wrap=True
    )
    return 0


def explain_execution(
    api: SfnApi,
    execution_arn: str,
    *,
    as_json: bool,
    output_dir: Path | None = None,
    console: Console | None = None,
) -> int:
    """Explain how an execution ended (or where it is, if it still runs)."""
    console = console or Console()
    execution = api.describe_execution(execution_arn, wait_s=2.0)
    definition = api.definition_for(execution_arn)
    progress = progress_of(api.full_history(execution_arn), definition)
    progress.top_states = top_level_states(definition)
    if progress.status == "RUNNING" and not as_json:
        now_s = time.time()
        console.print(plain_line(str(execution["name"]), progress, None, now_s), highlight=False)
        return 0
    return report(api, execution, progress, as_json=as_json, output_dir=output_dir, console=console)
