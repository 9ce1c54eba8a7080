"""Recorded histories (histories/make_histories.py) and moto Step Functions for kilowatch.sfn."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HISTORIES = Path(__file__).parent / "histories"
ROLE = "arn:aws:iam::123456789012:role/kilowatch-sfn"


def load_history(stem: str) -> dict[str, Any]:
    """One recorded history: description, definition, execution, events."""
    return json.loads((HISTORIES / f"{stem}.json").read_text())


@pytest.fixture
def history() -> Callable[[str], dict[str, Any]]:
    """Load a recorded history by its file stem."""
    return load_history


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region for boto3 (moto needs some), and a private ETA cache."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "KILOWATCH_CACHE_DIR": str(tmp_path / "cache"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def moto_sfn(aws_env: None) -> Iterator[Any]:
    """In-process moto that really executes state machines (no Task states: they need Docker)."""
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")


# A machine with every state type moto can run here: Pass, Wait, Map, Parallel, Choice, Fail.
ALL_STATES: dict[str, Any] = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Days"},
        "Days": {
            "Type": "Map",
            "ItemsPath": "$.days",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Day",
                "States": {"Day": {"Type": "Pass", "End": True}},
            },
            "ResultPath": "$.recosted",
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Right",
                    "States": {"Right": {"Type": "Wait", "Seconds": 1, "End": True}},
                },
            ],
            "ResultPath": "$.both",
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
            "Default": "Done",
        },
        "Boom": {"Type": "Fail", "Error": "Kilowatch.Asked", "Cause": "the input asked to fail"},
        "Done": {"Type": "Succeed"},
    },
}
