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
        [["/var/task/kilowatch/etl/load.py", 5, "load", "x()"], ["/var/runtime/bootstrap.py", 1, "m", ""]]
    )
    assert (kept, hidden) == (["kilowatch/etl/load.py:5 in load: x()"], 1)


def test_nothing_to_explain_for_a_success() -> None:
    assert explain(progress_of(load_history("client_data_ok_1")["events"])) is None
