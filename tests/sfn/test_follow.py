"""Following executions that moto really runs (Pass, Wait, Map, Parallel, Choice, Fail).

What moto cannot show: Task states (Lambda needs Docker here), Distributed Map item counts
(moto's describe_map_run totals grow as items start), retries and catches of task errors,
and get_execution_history paging (moto returns the whole history in one page).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from kilowatch.sfn import commands
from kilowatch.sfn.client import SfnApi
from kilowatch.sfn.eta import Eta
from kilowatch.sfn.follow import apply_map_run, follow
from kilowatch.sfn.history import Progress
from kilowatch.sfn.render import map_text

from .conftest import ALL_STATES, ROLE

QUICK: dict[str, Any] = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 1, "Next": "B"},
        "B": {"Type": "Pass", "Result": {"results": "s3://kilowatch-results/run/"}, "End": True},
    },
}


def _machine(client: Any, definition: dict[str, Any], name: str = "all-states") -> str:
    return str(
        client.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
    )


def test_the_watcher_follows_an_execution_from_start_to_end(moto_sfn: Any) -> None:
    machine = _machine(moto_sfn, ALL_STATES)
    arn = moto_sfn.start_execution(
        stateMachineArn=machine,
        name="watched",
        input=json.dumps({"days": [1, 2, 3], "fail": False}),
    )["executionArn"]
    seen: list[tuple[str, int, str | None]] = []

    def on_update(progress: Progress, eta: Eta | None, now_s: float) -> None:
        current = progress.current.name if progress.current else None
        seen.append((progress.status, progress.states_done, current))

    api = SfnApi(moto_sfn)
    followed = follow(api, arn, on_update, poll_s=0.2)

    assert followed.progress.status == "SUCCEEDED"
    assert followed.execution["status"] == "SUCCEEDED"
    assert seen[-1] == ("SUCCEEDED", 6, None)
    done_counts = [done for _, done, _ in seen]
    assert done_counts == sorted(done_counts)  # progress only moves forward
    assert any(status == "RUNNING" for status, _, _ in seen)  # it was seen while running
    assert {"Pause", "Right"} & {current for _, _, current in seen if current} or len(seen) > 2
    assert followed.progress.maps["Days"].succeeded == 3
    # Every poll after the first read only new events: never the history again from the start.
    assert api.calls["get_execution_history"] == followed.polls


def test_watch_prints_plain_lines_off_a_terminal_and_exits_by_status(
    moto_sfn: Any, tmp_path: Path
) -> None:
    machine = _machine(moto_sfn, ALL_STATES)
    api = SfnApi(moto_sfn)
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"days": [1, 2], "fail": False}))
    code = commands.run(
        api,
        "all-states",
        input_path=data,
        name="works",
        watch_it=True,
        poll_s=0.2,
        console=console,
    )
    text = out.getvalue()
    assert code == 0
    assert "works: RUNNING" in text and "works: SUCCEEDED" in text
    assert "Days: 2/2 items" in text
    assert '"recosted": [' in text  # the output, pretty-printed

    tmp = io.StringIO()
    arn = moto_sfn.start_execution(
        stateMachineArn=machine, name="boom", input=json.dumps({"days": [], "fail": True})
    )["executionArn"]
    code = commands.watch(api, arn, poll_s=0.2, console=Console(file=tmp, width=200))
    assert code == 1
    assert "The execution failed in state Boom (Fail)." in tmp.getvalue()
    assert "Error: Kilowatch.Asked: the input asked to fail" in tmp.getvalue()


def test_eta_appears_once_enough_runs_succeeded(moto_sfn: Any) -> None:
    machine = _machine(moto_sfn, QUICK, "quick")
    api = SfnApi(moto_sfn)
    lines: list[str] = []
    for i in range(4):
        out = io.StringIO()
        code = commands.run(
            api,
            machine,
            input_path=None,
            name=f"q{i}",
            watch_it=True,
            poll_s=0.1,
            console=Console(file=out, width=200),
        )
        assert code == 0
        lines.append(out.getvalue())
    assert "no ETA: only 0 successful runs to learn from (needs 3)" in lines[0]
    assert "q3: RUNNING, in W for" in lines[3]
    assert "(median of 3 runs)" in lines[3]
    assert "s3://kilowatch-results/run/" in lines[3]  # results it names are listed


def test_list_and_explain(moto_sfn: Any) -> None:
    machine = _machine(moto_sfn, ALL_STATES)
    arn = moto_sfn.start_execution(
        stateMachineArn=machine, name="x1", input=json.dumps({"days": [1], "fail": True})
    )["executionArn"]
    api = SfnApi(moto_sfn)
    follow(api, arn, lambda *_: None, poll_s=0.2)
    out = io.StringIO()
    assert (
        commands.list_executions(
            api,
            "all-states",
            limit=5,
            status=None,
            as_json=False,
            console=Console(file=out, width=120),
        )
        == 0
    )
    assert "x1" in out.getvalue() and "FAILED" in out.getvalue()
    assert f"kilowatch sfn explain {arn}\n" in out.getvalue()  # the ARN whole, to copy
    out = io.StringIO()
    assert commands.explain_execution(api, arn, as_json=False, console=Console(file=out)) == 1
    assert "state Boom (Fail)" in out.getvalue()


def test_on_a_terminal_the_live_view_shows_states_and_map_items(
    moto_sfn: Any, tmp_path: Path
) -> None:
    machine = _machine(moto_sfn, ALL_STATES)
    arn = moto_sfn.start_execution(
        stateMachineArn=machine, name="live", input=json.dumps({"days": [1, 2, 3, 4]})
    )["executionArn"]
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    assert commands.watch(SfnApi(moto_sfn), arn, poll_s=0.2, console=console) == 0
    text = out.getvalue()
    assert "✓" in text and "Pause" in text and "4/4 items" in text
    assert "Succeeded in" in text


DISTRIBUTED: dict[str, Any] = {
    "StartAt": "Days",
    "States": {
        "Days": {
            "Type": "Map",
            "ItemsPath": "$.days",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Day",
                "States": {"Day": {"Type": "Pass", "End": True}},
            },
            "End": True,
        }
    },
}


def test_a_distributed_map_is_counted_by_describe_map_run(moto_sfn: Any) -> None:
    """Its items run as child executions: the parent's history has no iterations, so the
    counts come from describe_map_run (moto's own counts are not asserted: they differ)."""
    machine = _machine(moto_sfn, DISTRIBUTED, "distributed")
    arn = moto_sfn.start_execution(
        stateMachineArn=machine, name="d1", input=json.dumps({"days": list(range(5))})
    )["executionArn"]
    api = SfnApi(moto_sfn)
    followed = follow(api, arn, lambda *_: None, poll_s=0.2)
    days = followed.progress.maps["Days"]
    assert days.map_run_arn is not None and ":mapRun:" in days.map_run_arn
    assert api.calls["describe_map_run"] >= 1


def test_map_run_counts_in_the_shape_aws_returns() -> None:
    progress = Progress()
    progress.add(
        [
            {"id": 1, "previousEventId": 0, "type": "ExecutionStarted", "timestamp": 0},
            {
                "id": 2,
                "previousEventId": 1,
                "type": "MapStateEntered",
                "timestamp": 1,
                "stateEnteredEventDetails": {"name": "Recost days (distributed)"},
            },
            {
                "id": 3,
                "previousEventId": 2,
                "type": "MapStateStarted",
                "timestamp": 1,
                "mapStateStartedEventDetails": {"length": 0},
            },
            {
                "id": 4,
                "previousEventId": 3,
                "type": "MapRunStarted",
                "timestamp": 2,
                "mapRunStartedEventDetails": {"mapRunArn": "arn:aws:states:::mapRun:m/x:y"},
            },
        ]
    )
    counts = {
        "pending": 150,
        "running": 8,
        "succeeded": 200,
        "failed": 2,
        "timedOut": 1,
        "aborted": 0,
        "total": 361,
        "resultsWritten": 200,
    }
    apply_map_run(progress, "Recost days (distributed)", {"itemCounts": counts})
    days = progress.maps["Recost days (distributed)"]
    assert (days.total, days.done, days.running, days.failed) == (361, 203, 8, 2)
    assert (
        map_text(days)
        == "Recost days (distributed): 203/361 items, 8 running, 2 failed, distributed"
    )
