"""Errors in plain words, from recorded histories of the failures moto cannot produce.

moto cannot run Lambda tasks here (they need Docker), so a Python traceback in `cause`,
task timeouts, throttling retries, failed Map items and pandera errors only exist in these
recorded histories, composed in the shape get_execution_history returns.
"""

from __future__ import annotations

import json

import pytest

from kilowatch.sfn.explain import Explanation, explain, hint_for, trim_trace
from kilowatch.sfn.history import progress_of
from kilowatch.sfn.render import explanation_lines

from .conftest import load_history


def _explain(stem: str) -> Explanation:
    doc = load_history(stem)
    explanation = explain(progress_of(doc["events"], doc["definition"]))
    assert explanation is not None
    return explanation


def test_a_python_traceback_is_trimmed_to_kilowatch_frames() -> None:
    expl = _explain("client_data_lambda_failure")
    assert (expl.state, expl.error, expl.message, expl.retries) == ("Load", "KeyError", "'hmo'", 1)
    assert expl.trace == [
        "kilowatch_cdk/orchestration/runtime/handlers.py:61 in load: "
        "written = load_readings(frame, plant)",
        "kilowatch/etl/load.py:112 in load_readings: zone = plants[plant_id].timezone",
    ]
    assert expl.frames_hidden == 1
    assert json.loads(expl.input or "") == {
        "bucket": "kilowatch-ingest",
        "key": "uploads/hmo/2026-10.csv",
    }
    text = "\n".join(explanation_lines(expl))
    assert "tried 2 times (1 retry)" in text
    assert "pandas/core/frame.py" not in text and "{" in text  # the input, pretty-printed


@pytest.mark.parametrize(
    ("stem", "state", "error", "hint"),
    [
        ("recost_timeout", "Recost", "States.Timeout", "ran past its timeout"),
        ("billing_throttled", "Bill", "Lambda.TooManyRequestsException", "throttled"),
        ("client_data_out_of_memory", "Indicators", "Runtime.OutOfMemory", "out of memory"),
        ("client_data_data_limit", "Load", "States.DataLimitExceeded", "256 KiB"),
        ("billing_map_failed_items", "Bill", "ClientError", "lacks a permission"),
        ("client_data_validation_error", "Validate", "SchemaErrors", "did not pass validation"),
    ],
)
def test_each_common_failure_gets_its_hint(stem: str, state: str, error: str, hint: str) -> None:
    expl = _explain(stem)
    assert (expl.state, expl.error) == (state, error)
    assert hint in expl.hint


def test_throttling_counts_every_retry() -> None:
    assert _explain("billing_throttled").retries == 3


def test_a_map_names_its_failed_items() -> None:
    expl = _explain("billing_map_failed_items")
    assert expl.failed_items == {"Plants": [1, 3]}
    assert json.loads(expl.input or "") == {"plant": "qro", "period": "2026-10"}


def test_pandera_errors_list_the_bad_rows() -> None:
    expl = _explain("client_data_validation_error")
    assert expl.bad_rows == [
        {"column": "energy_kwh", "check": "greater_than_or_equal_to(0)", "value": "-12.5"},
        {"column": "energy_kwh", "check": "greater_than_or_equal_to(0)", "value": "-0.75"},
        {"column": "meter", "check": "str_matches('^[a-z0-9-]+$')", "value": "Press 01"},
    ]
    assert "DATAFRAME_CHECK" not in expl.message  # the raw JSON is summarised, not dumped


def test_kilowatch_validation_errors_carry_their_rows() -> None:
    """The orchestration's validate task raises ValidationFailed with rows as JSON."""
    from kilowatch.sfn.explain import _validation_rows

    message, rows = _validation_rows(
        '{"message": "2 rows failed", "bad_rows": [{"row": 3, "energy_kwh": -1}]}'
    )
    assert (message, rows) == ("2 rows failed", [{"row": 3, "energy_kwh": -1}])


def test_access_denied_names_the_missing_permission() -> None:
    hint = hint_for(
        "Lambda.AWSLambdaException",
        "User: arn:aws:sts::1:assumed-role/sfn is not authorized to perform: "
        "lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:1:function:f",
    )
    assert "lambda:InvokeFunction on arn:aws:lambda:eu-west-1:1:function:f" in hint


def test_older_runtime_frames_as_lists_are_trimmed_too() -> None:
    kept, hidden = trim_trace(
        [
            ["/var/task/kilowatch/etl/load.py", 5, "load", "x()"],
            ["/var/runtime/bootstrap.py", 1, "m", ""],
        ]
    )
    assert (kept, hidden) == (["kilowatch/etl/load.py:5 in load: x()"], 1)


def test_nothing_to_explain_for_a_success() -> None:
    assert explain(progress_of(load_history("client_data_ok_1")["events"])) is None


def test_a_caught_failure_of_kilowatchs_workflows_is_explained_by_its_task() -> None:
    """The workflows catch every error, record it in S3, then fail with it (see
    cdk/kilowatch_cdk/orchestration): the explanation names the task, not the recording."""
    doc = load_history("client_data_caught_validation")
    progress = progress_of(doc["events"], doc["definition"])
    expl = explain(progress)
    assert expl is not None
    assert (expl.state, expl.error, expl.retries) == ("Validate", "ValidationFailed", 0)
    assert expl.message == "october.csv has 1 problem(s) in 2 row(s); nothing was written"
    assert expl.bad_rows == [
        {"column": "units", "problem": "is not a number", "rows": [4, 9], "values": ["many", "n/a"]}
    ]
    assert "did not pass validation" in expl.hint
    statuses = {run.name: run.status for run in progress.top_runs}
    assert statuses["Validate"] == "failed"  # exited through its catch, not succeeded
    assert statuses["Record failure (ClientData)"] == "succeeded"


def test_an_execution_timeout_exits_3_and_says_so() -> None:
    from kilowatch.sfn.commands import exit_status

    events = [
        {
            "id": 1,
            "previousEventId": 0,
            "type": "ExecutionStarted",
            "timestamp": 0,
            "executionStartedEventDetails": {"input": '{"plant": "hmo"}'},
        },
        {
            "id": 2,
            "previousEventId": 1,
            "type": "TaskStateEntered",
            "timestamp": 1,
            "stateEnteredEventDetails": {"name": "Recost", "input": '{"plant": "hmo"}'},
        },
        {
            "id": 3,
            "previousEventId": 2,
            "type": "TaskScheduled",
            "timestamp": 1,
            "taskScheduledEventDetails": {},
        },
        {
            "id": 4,
            "previousEventId": 3,
            "type": "ExecutionTimedOut",
            "timestamp": 86_400,
            "executionTimedOutEventDetails": {
                "error": "States.Timeout",
                "cause": "The execution timed out",
            },
        },
    ]
    progress = progress_of(events)
    expl = explain(progress)
    assert expl is not None
    assert (progress.status, expl.state, expl.error) == ("TIMED_OUT", "Recost", "ExecutionTimedOut")
    assert "whole execution ran past" in expl.hint
    assert explanation_lines(expl)[0] == "The execution timed out in state Recost (Task)."
    assert [exit_status(s) for s in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")] == [0, 1, 3, 3]
