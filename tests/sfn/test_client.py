"""The boto3 adapter: incremental history paging and describe_execution's eventual consistency.

moto ignores maxResults, nextToken and reverseOrder on get_execution_history (it returns the
whole history at once), so paging is checked with botocore's Stubber, which validates every
request and response against the real Step Functions API model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from kilowatch.sfn.client import HistoryReader, NaiveHistoryReader, SfnApi
from kilowatch.sfn.errors import SfnError

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:e"


def _events(first: int, last: int) -> list[dict[str, Any]]:
    """Events first..last, newest first (reverseOrder)."""
    return [
        {
            "timestamp": datetime(2026, 11, 2, tzinfo=UTC),
            "type": "PassStateEntered",
            "id": i,
            "previousEventId": i - 1,
            "stateEnteredEventDetails": {"name": f"S{i}"},
        }
        for i in range(last, first - 1, -1)
    ]


def _api() -> tuple[SfnApi, Stubber]:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return SfnApi(client, sleep=lambda _s: None), Stubber(client)


def _expect(
    stub: Stubber, events: list[dict[str, Any]], token: str | None, sent: str | None
) -> None:
    params: dict[str, Any] = {
        "executionArn": ARN,
        "maxResults": 3,
        "reverseOrder": True,
        "includeExecutionData": True,
    }
    if sent:
        params["nextToken"] = sent
    response: dict[str, Any] = {"events": events}
    if token:
        response["nextToken"] = token
    stub.add_response("get_execution_history", response, params)


def test_each_poll_reads_only_new_events_newest_first() -> None:
    api, stub = _api()
    reader = HistoryReader(api, ARN, page_size=3)
    # Poll 1: 5 events, two pages back to the start.
    _expect(stub, _events(3, 5), "t1", None)
    _expect(stub, _events(1, 2), None, "t1")
    # Poll 2: 2 new events: one page reaches event 5, already read; stop there.
    _expect(stub, _events(5, 7), "t2", None)
    # Poll 3: nothing new: one call.
    _expect(stub, _events(5, 7), "t3", None)
    with stub:
        assert [e["id"] for e in reader.read_new()] == [1, 2, 3, 4, 5]
        assert [e["id"] for e in reader.read_new()] == [6, 7]
        assert reader.read_new() == []
        stub.assert_no_pending_responses()
    assert api.calls["get_execution_history"] == 4
    assert reader.last_event_id == 7


def test_a_gap_is_not_skipped_but_read_again() -> None:
    """If a page came back without an event in between, only the unbroken run is taken."""
    api, stub = _api()
    reader = HistoryReader(api, ARN, page_size=3)
    reader.last_event_id = 5
    broken = [e for e in _events(6, 9) if e["id"] != 7]
    _expect(stub, [*broken, *_events(5, 5)], None, None)
    _expect(stub, _events(6, 9), "t", None)
    with stub:
        assert [e["id"] for e in reader.read_new()] == [6]
        assert [e["id"] for e in reader.read_new()] == [7, 8, 9]


def test_the_naive_reader_reads_everything_every_time() -> None:
    api, stub = _api()
    reader = NaiveHistoryReader(api, ARN, page_size=3)
    for _ in range(2):
        stub.add_response(
            "get_execution_history", {"events": _events(1, 3)[::-1], "nextToken": "n"}
        )
        stub.add_response("get_execution_history", {"events": _events(4, 4)})
    with stub:
        assert len(reader.read_new()) == 4
        assert reader.read_new() == []
    assert api.calls["get_execution_history"] == 4


def test_describe_execution_waits_for_a_new_execution_to_appear() -> None:
    api, stub = _api()
    stub.add_client_error("describe_execution", "ExecutionDoesNotExist", "Execution Does Not Exist")
    stub.add_client_error("describe_execution", "ExecutionDoesNotExist", "Execution Does Not Exist")
    stub.add_response(
        "describe_execution",
        {
            "executionArn": ARN,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
            "status": "RUNNING",
            "startDate": datetime(2026, 11, 2, tzinfo=UTC),
        },
    )
    with stub:
        assert api.describe_execution(ARN)["status"] == "RUNNING"
    assert api.calls["describe_execution"] == 3


def test_an_execution_that_never_appears_is_a_clear_error() -> None:
    api, stub = _api()
    for _ in range(30):
        stub.add_client_error("describe_execution", "ExecutionDoesNotExist", "nope")
    with stub, pytest.raises(SfnError, match="no such execution"):
        api.describe_execution(ARN, wait_s=1.0)


def test_an_error_code_without_a_sentence_of_its_own_is_still_one_line() -> None:
    api, stub = _api()
    stub.add_client_error(
        "describe_execution",
        "ServiceUnavailable",
        "Service is down\nsecond line",
        http_status_code=503,
    )
    with stub, pytest.raises(SfnError) as raised:
        api.describe_execution(ARN, wait_s=0.0)
    assert str(raised.value) == (
        "Step Functions refused describe_execution: ServiceUnavailable: Service is down"
    )
    assert raised.value.code == "ServiceUnavailable"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AWS_REGION", "us east 1", "doesn't match a supported format"),
        ("AWS_PROFILE", "no-such-profile", "could not be found"),
    ],
)
def test_aws_settings_botocore_cannot_use_are_one_sentence(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SfnError, match="the AWS settings cannot be used") as raised:
        SfnApi.from_environment()
    assert message in str(raised.value)
