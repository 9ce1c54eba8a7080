"""Folding histories: recorded ones, and ones moto really executed."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.sfn.history import Progress, progress_of, top_level_states

from .conftest import ALL_STATES, ROLE, load_history


def _run_in_moto(client: Any, definition: dict[str, Any], data: dict[str, Any]) -> list[Any]:
    machine = client.create_state_machine(
        name="all-states", definition=json.dumps(definition), roleArn=ROLE
    )
    arn = client.start_execution(
        stateMachineArn=machine["stateMachineArn"], name="one", input=json.dumps(data)
    )["executionArn"]
    while client.describe_execution(executionArn=arn)["status"] == "RUNNING":
        time.sleep(0.1)
    return client.get_execution_history(executionArn=arn)["events"]


def test_a_moto_run_folds_into_top_level_states_map_items_and_a_fail(moto_sfn: Any) -> None:
    """moto executes Pass/Wait/Map/Parallel/Choice/Fail for real; nested states stay nested."""
    events = _run_in_moto(moto_sfn, ALL_STATES, {"days": [1, 2, 3, 4, 5], "fail": True})
    progress = progress_of(events, ALL_STATES)

    assert progress.status == "FAILED"
    assert [run.name for run in progress.top_runs] == [
        "Prepare",
        "Pause",
        "Days",
        "Both",
        "Decide",
        "Boom",
    ]
    assert {run.name for run in progress.runs if not run.top_level} == {"Day", "Left", "Right"}
    assert progress.states_total == 7
    assert progress.states_done == 5  # Boom failed; Done never ran
    days = progress.maps["Days"]
    assert (days.total, days.succeeded, days.failed, days.running) == (5, 5, 0, 0)
    assert len(days.item_s) == 5
    pause = progress.top_runs[1]
    assert pause.exited_s is not None and pause.exited_s - pause.entered_s >= 0.9
    assert progress.failed_state is not None and progress.failed_state.name == "Boom"


def test_a_succeeded_moto_run_keeps_its_output(moto_sfn: Any) -> None:
    events = _run_in_moto(moto_sfn, ALL_STATES, {"days": [1], "fail": False})
    progress = progress_of(events, ALL_STATES)
    assert progress.status == "SUCCEEDED"
    assert progress.top_runs[-1].name == "Done"
    assert json.loads(progress.output or "")["recosted"] == [1]
    assert progress.current is None


def test_retries_are_counted_per_state_entry() -> None:
    doc = load_history("billing_throttled")
    run = progress_of(doc["events"]).top_runs[0]
    assert (run.attempts, run.retries, len(run.failures)) == (4, 3, 4)


def test_a_running_history_names_the_state_running_now() -> None:
    doc = load_history("client_data_running")
    progress = progress_of(doc["events"], doc["definition"])
    assert progress.status == "RUNNING"
    assert progress.current is not None and progress.current.name == "Load"
    assert (progress.states_done, progress.states_total) == (1, 4)


def test_map_items_that_failed_are_listed() -> None:
    doc = load_history("billing_map_failed_items")
    plants = progress_of(doc["events"]).maps["Plants"]
    assert (plants.total, plants.succeeded, plants.failed) == (4, 2, 2)
    assert plants.failed_items == [1, 3]


def test_events_already_folded_are_ignored() -> None:
    doc = load_history("client_data_ok_0")
    progress = progress_of(doc["events"])
    assert progress.add(doc["events"]) == 0
    assert len(progress.runs) == 4


def _summary(progress: Progress) -> Any:
    return (
        progress.status,
        [
            (r.name, r.status, r.top_level, r.attempts, r.entered_s, r.exited_s)
            for r in progress.runs
        ],
        {n: (m.total, m.succeeded, m.failed, m.failed_items) for n, m in progress.maps.items()},
        [(f.error, f.state.name if f.state else None) for f in progress.failures],
        progress.last_event_id,
    )


STEMS = ["billing_map_failed_items", "billing_throttled", "client_data_lambda_failure"]


@settings(max_examples=40, deadline=None)
@given(stem=st.sampled_from(STEMS), cuts=st.lists(st.integers(1, 60), max_size=8))
def test_folding_in_pieces_equals_folding_at_once(stem: str, cuts: list[int]) -> None:
    """The watcher folds each poll's new events; any split must give the same progress."""
    doc = load_history(stem)
    events = doc["events"]
    whole = progress_of(events, doc["definition"])
    pieces = Progress(top_states=top_level_states(doc["definition"]))
    start = 0
    for cut in sorted(set(cuts)):
        pieces.add(events[start:cut])
        start = max(start, cut)
    pieces.add(events[start:])
    assert _summary(pieces) == _summary(whole)
