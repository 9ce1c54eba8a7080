"""Writes the JSON histories in this folder, in the exact shape get_execution_history returns.

No AWS account is reachable where kilowatch is built and moto cannot run Lambda tasks, so these
histories are composed event by event after AWS's documented event types and details (Lambda
through the `arn:aws:states:::lambda:invoke` integration; the Python runtime's error document
with errorMessage, errorType, requestId and stackTrace). Run `python make_histories.py` to
write them again; the tests read the JSON files, not this script.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REGION, ACCOUNT = "eu-west-1", "123456789012"
T0 = datetime(2026, 11, 2, 6, 0, 0, tzinfo=UTC)
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:kilowatch-orchestration-tasks"


def lambda_cause(error_type: str, message: str, frames: list[tuple[str, int, str, str]]) -> str:
    """The Python Lambda runtime's error document, as Step Functions puts it in `cause`."""
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": "5b1c2d8e-61a4-4f7e-9d0b-1f6f0f6f3a21",
            "stackTrace": [
                f'  File "{path}", line {line}, in {func}\n    {code}\n'
                for path, line, func, code in frames
            ],
        }
    )


class History:
    """Appends events with ids, previousEventId and timestamps like AWS does."""

    def __init__(self, machine: str, name: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.machine, self.name = machine, name
        self.arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{name}"

    def add(self, kind: str, at_s: float, prev: int | None = None, **details: Any) -> int:
        event_id = len(self.events) + 1
        event: dict[str, Any] = {
            "timestamp": (T0 + timedelta(seconds=at_s)).isoformat(),
            "type": kind,
            "id": event_id,
            "previousEventId": event_id - 1 if prev is None else prev,
        }
        if details:
            key = kind[0].lower() + kind[1:]
            for suffix in ("Entered", "Exited"):
                if kind.endswith("State" + suffix):
                    key = "state" + suffix
            event[f"{key}EventDetails"] = details
        self.events.append(event)
        return event_id

    def enter(self, kind: str, name: str, at_s: float, data: Any, prev: int | None = None) -> int:
        return self.add(
            f"{kind}StateEntered",
            at_s,
            prev,
            name=name,
            input=json.dumps(data),
            inputDetails={"truncated": False},
        )

    def exit(self, kind: str, name: str, at_s: float, data: Any, prev: int | None = None) -> int:
        return self.add(
            f"{kind}StateExited",
            at_s,
            prev,
            name=name,
            output=json.dumps(data),
            outputDetails={"truncated": False},
        )

    def task_ok(self, name: str, start_s: float, took_s: float, data: Any, out: Any) -> None:
        self.enter("Task", name, start_s, data)
        self.attempt(start_s, data)
        self.add(
            "TaskSucceeded",
            start_s + took_s,
            resourceType="lambda",
            resource="invoke",
            output=json.dumps({"Payload": out, "StatusCode": 200}),
            outputDetails={"truncated": False},
        )
        self.exit("Task", name, start_s + took_s, out)

    def attempt(self, at_s: float, data: Any, prev: int | None = None) -> None:
        self.add(
            "TaskScheduled",
            at_s,
            prev,
            resourceType="lambda",
            resource="invoke",
            region=REGION,
            parameters=json.dumps({"FunctionName": FN, "Payload": data}),
            timeoutInSeconds=900,
        )
        self.add("TaskStarted", at_s + 0.05, resourceType="lambda", resource="invoke")

    def fail(self, at_s: float, error: str, cause: str) -> None:
        self.add(
            "TaskFailed", at_s, resourceType="lambda", resource="invoke", error=error, cause=cause
        )

    def start(self, data: Any) -> None:
        self.add(
            "ExecutionStarted",
            0,
            0,
            input=json.dumps(data),
            inputDetails={"truncated": False},
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/kilowatch-sfn",
        )

    def write(self, stem: str, description: str, status: str, definition: dict[str, Any]) -> None:
        last = self.events[-1]
        doc = {
            "description": description,
            "definition": definition,
            "execution": {
                "executionArn": self.arn,
                "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.machine}",
                "name": self.name,
                "status": status,
                "startDate": self.events[0]["timestamp"],
                **({"stopDate": last["timestamp"]} if status != "RUNNING" else {}),
            },
            "events": self.events,
        }
        (HERE / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")


def task(name: str, nxt: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FN, "Payload.$": "$"},
        "TimeoutSeconds": 900,
    }
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


CLIENT_DATA = {
    "StartAt": "Validate",
    "States": {
        "Validate": task("Validate", "Load"),
        "Load": task("Load", "Indicators"),
        "Indicators": task("Indicators", "Notify"),
        "Notify": task("Notify", None),
    },
}
UPLOAD = {"bucket": "kilowatch-ingest", "key": "uploads/hmo/2026-10.csv"}
VALIDATE_FRAMES = [
    (
        "/var/task/kilowatch_cdk/orchestration/runtime/handlers.py",
        48,
        "validate",
        "return _validate(event)",
    ),
    (
        "/var/task/kilowatch/etl/validate.py",
        77,
        "validate_readings",
        "return ReadingsSchema.validate(frame, lazy=True)",
    ),
    ("/var/task/pandera/api/pandas/model.py", 293, "validate", "return cls.to_schema().validate("),
    ("/var/task/pandera/backends/pandas/container.py", 121, "validate", "raise SchemaErrors("),
]
PANDERA_MESSAGE = json.dumps(
    {
        "DATA": {
            "DATAFRAME_CHECK": [
                {
                    "schema": "ReadingsSchema",
                    "column": "energy_kwh",
                    "check": "greater_than_or_equal_to(0)",
                    "error": "Column 'energy_kwh' failed element-wise validator number 0: "
                    "greater_than_or_equal_to(0) failure cases: -12.5, -0.75",
                },
                {
                    "schema": "ReadingsSchema",
                    "column": "meter",
                    "check": "str_matches('^[a-z0-9-]+$')",
                    "error": "Column 'meter' failed element-wise validator number 0: "
                    "str_matches('^[a-z0-9-]+$') failure cases: Press 01",
                },
            ]
        }
    },
    indent=4,
)


def successful_runs() -> None:
    """Four succeeded client-data runs: Validate 10/12/14/100 s, Load 60/64/70/62 s, ..."""
    for i, (v, ld, ind, nt) in enumerate(
        [(10, 60, 30, 2), (12, 64, 34, 2), (14, 70, 26, 4), (100, 62, 30, 2)]
    ):
        h = History("kilowatch-client-data", f"ok-{i}")
        h.start(UPLOAD)
        t = 0.1
        summary = {"rows": 8640, "results": "s3://kilowatch-results/client-data/hmo/2026-10/"}
        for name, took in (("Validate", v), ("Load", ld), ("Indicators", ind), ("Notify", nt)):
            h.task_ok(name, t, took, UPLOAD, summary)
            t += took
        h.add(
            "ExecutionSucceeded", t, output=json.dumps(summary), outputDetails={"truncated": False}
        )
        h.write(f"client_data_ok_{i}", f"succeeded run {i}", "SUCCEEDED", CLIENT_DATA)


def running() -> None:
    """Running: Validate done in 11 s, Load running since t=11.1 s (history read at 41.1 s)."""
    h = History("kilowatch-client-data", "running")
    h.start(UPLOAD)
    h.task_ok("Validate", 0.1, 11, UPLOAD, {"rows": 8640})
    h.enter("Task", "Load", 11.1, UPLOAD)
    h.attempt(11.1, UPLOAD)
    h.write("client_data_running", "running: Load entered at 11.1 s", "RUNNING", CLIENT_DATA)


def lambda_failure() -> None:
    """Load: a transient Lambda.ServiceException (retried), then a Python KeyError."""
    h = History("kilowatch-client-data", "load-keyerror")
    h.start(UPLOAD)
    h.task_ok("Validate", 0.1, 11, UPLOAD, {"rows": 8640})
    h.enter("Task", "Load", 11.1, UPLOAD)
    h.attempt(11.1, UPLOAD)
    h.fail(
        11.3,
        "Lambda.ServiceException",
        "Lambda was unable to process the request. (Service: Lambda, Status Code: 500)",
    )
    h.attempt(13.3, UPLOAD)
    frames = [
        (
            "/var/task/kilowatch_cdk/orchestration/runtime/handlers.py",
            61,
            "load",
            "written = load_readings(frame, plant)",
        ),
        (
            "/var/task/kilowatch/etl/load.py",
            112,
            "load_readings",
            "zone = plants[plant_id].timezone",
        ),
        (
            "/var/task/pandas/core/frame.py",
            4102,
            "__getitem__",
            "indexer = self.columns.get_loc(key)",
        ),
    ]
    h.fail(14.0, "KeyError", lambda_cause("KeyError", "'hmo'", frames))
    h.add(
        "ExecutionFailed", 14.1, error="KeyError", cause=lambda_cause("KeyError", "'hmo'", frames)
    )
    h.write(
        "client_data_lambda_failure",
        "Load fails with a Python traceback after one retry",
        "FAILED",
        CLIENT_DATA,
    )


def validation_error() -> None:
    """Validate raises pandera's SchemaErrors (lazy): two checks, three bad values."""
    h = History("kilowatch-client-data", "bad-upload")
    h.start(UPLOAD)
    h.enter("Task", "Validate", 0.1, UPLOAD)
    h.attempt(0.1, UPLOAD)
    cause = lambda_cause("SchemaErrors", PANDERA_MESSAGE, VALIDATE_FRAMES)
    h.fail(3.2, "SchemaErrors", cause)
    h.add("ExecutionFailed", 3.3, error="SchemaErrors", cause=cause)
    h.write("client_data_validation_error", "pandera rejects the upload", "FAILED", CLIENT_DATA)


def timeout() -> None:
    """Recost: the task runs past its 900 s timeout."""
    definition = {"StartAt": "Recost", "States": {"Recost": task("Recost", None)}}
    h = History("kilowatch-recost", "slow")
    data = {"plant": "hmo", "from": "2026-10-01", "to": "2026-10-02"}
    h.start(data)
    h.enter("Task", "Recost", 0.1, data)
    h.attempt(0.1, data)
    h.add(
        "TaskTimedOut",
        900.1,
        resourceType="lambda",
        resource="invoke",
        error="States.Timeout",
        cause="",
    )
    h.add("ExecutionFailed", 900.2, error="States.Timeout", cause="")
    h.write("recost_timeout", "a recost task times out", "FAILED", definition)


def throttled() -> None:
    """Billing: throttled four times; the retries with backoff run out."""
    definition = {"StartAt": "Bill", "States": {"Bill": task("Bill", None)}}
    h = History("kilowatch-monthly-billing", "throttled")
    data = {"plant": "hmo", "period": "2026-10"}
    h.start(data)
    h.enter("Task", "Bill", 0.1, data)
    cause = (
        "Rate Exceeded. (Service: Lambda, Status Code: 429, Request ID: 0c2b, "
        "Error Code: TooManyRequestsException)"
    )
    t = 0.1
    for wait_s in (2, 4, 8, 16):
        h.attempt(t, data)
        h.fail(t + 0.2, "Lambda.TooManyRequestsException", cause)
        t += 0.2 + wait_s
    h.add("ExecutionFailed", t, error="Lambda.TooManyRequestsException", cause=cause)
    h.write("billing_throttled", "throttled until the retries run out", "FAILED", definition)


def map_failed_items() -> None:
    """Monthly billing Map over 4 plants: items 1 and 3 fail with S3 AccessDenied."""
    definition = {
        "StartAt": "Plants",
        "States": {
            "Plants": {
                "Type": "Map",
                "ItemsPath": "$.plants",
                "MaxConcurrency": 2,
                "ToleratedFailurePercentage": 25,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Bill",
                    "States": {"Bill": task("Bill", None)},
                },
                "Next": "Notify",
            },
            "Notify": task("Notify", None),
        },
    }
    plants = ["hmo", "mty", "gdl", "qro"]
    h = History("kilowatch-monthly-billing", "2026-10")
    data = {"period": "2026-10", "plants": plants}
    h.start(data)
    h.enter("Map", "Plants", 0.1, data)
    started = h.add("MapStateStarted", 0.1, length=4)
    denied = lambda_cause(
        "ClientError",
        "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied",
        [
            (
                "/var/task/kilowatch_cdk/orchestration/runtime/handlers.py",
                90,
                "bill_plant",
                "keys = store_bill(bill, bucket, prefix)",
            ),
            (
                "/var/task/kilowatch_cdk/orchestration/runtime/results.py",
                31,
                "store_bill",
                "s3.put_object(Bucket=bucket, Key=key, Body=body)",
            ),
            (
                "/var/task/botocore/client.py",
                1023,
                "_make_api_call",
                "raise error_class(parsed_response, operation_name)",
            ),
        ],
    )
    t = 0.2
    for index, plant in enumerate(plants):
        item = {"plant": plant, "period": "2026-10"}
        it = h.add("MapIterationStarted", t, started, name="Plants", index=index)
        h.enter("Task", "Bill", t, item, prev=it)
        h.attempt(t, item)
        if index in (1, 3):
            h.fail(t + 4, "ClientError", denied)
            h.add("MapIterationFailed", t + 4, name="Plants", index=index)
        else:
            h.add(
                "TaskSucceeded",
                t + 5,
                resourceType="lambda",
                resource="invoke",
                output=json.dumps({"Payload": {"total": 1000.0}}),
                outputDetails={"truncated": False},
            )
            h.exit("Task", "Bill", t + 5, {"total": 1000.0})
            h.add("MapIterationSucceeded", t + 5, name="Plants", index=index)
        t += 5
    h.add("MapStateFailed", t + 0.1)
    h.add(
        "ExecutionFailed",
        t + 0.2,
        error="States.ExceedToleratedFailureThreshold",
        cause="The specified tolerated failure threshold was exceeded",
    )
    h.write(
        "billing_map_failed_items",
        "Map over plants: 2 of 4 items fail (AccessDenied)",
        "FAILED",
        definition,
    )


def out_of_memory() -> None:
    """Indicators: the Lambda runs out of memory."""
    h = History("kilowatch-client-data", "oom")
    h.start(UPLOAD)
    h.enter("Task", "Indicators", 0.1, UPLOAD)
    h.attempt(0.1, UPLOAD)
    cause = json.dumps(
        {
            "errorType": "Runtime.OutOfMemory",
            "errorMessage": "RequestId: 5b1c Error: Runtime exited with error: signal: killed",
        }
    )
    h.fail(40.0, "Runtime.OutOfMemory", cause)
    h.add("ExecutionFailed", 40.1, error="Runtime.OutOfMemory", cause=cause)
    h.write("client_data_out_of_memory", "the Lambda runs out of memory", "FAILED", CLIENT_DATA)


def data_limit() -> None:
    """Load returns more than 256 KiB: the execution fails with States.DataLimitExceeded."""
    h = History("kilowatch-client-data", "too-big")
    h.start(UPLOAD)
    h.enter("Task", "Load", 0.1, UPLOAD)
    h.attempt(0.1, UPLOAD)
    h.add(
        "ExecutionFailed",
        20.0,
        error="States.DataLimitExceeded",
        cause="The state/task 'Load' returned a result with a size exceeding the maximum "
        "number of bytes service limit.",
    )
    h.write("client_data_data_limit", "a task returns too much data", "FAILED", CLIENT_DATA)


def caught_validation() -> None:
    """kilowatch's own workflow: Validate's ValidationFailed is caught, recorded, then fails."""
    h = History("kilowatch-client-data", "caught")
    h.start(UPLOAD)
    h.enter("Task", "Validate", 0.1, UPLOAD)
    h.attempt(0.1, UPLOAD)
    message = json.dumps(
        {
            "message": "october.csv has 1 problem(s) in 2 row(s); nothing was written",
            "bad_rows": [
                {
                    "column": "units",
                    "problem": "is not a number",
                    "rows": [4, 9],
                    "values": ["many", "n/a"],
                }
            ],
        }
    )
    cause = lambda_cause("ValidationFailed", message, VALIDATE_FRAMES[:1])
    h.fail(2.0, "ValidationFailed", cause)
    caught = {**UPLOAD, "error": {"Error": "ValidationFailed", "Cause": cause}}
    h.exit("Task", "Validate", 2.0, caught)
    h.enter("Task", "Record failure (ClientData)", 2.0, caught)
    h.add(
        "TaskScheduled",
        2.0,
        resourceType="aws-sdk:s3",
        resource="putObject",
        region=REGION,
        parameters="{}",
    )
    h.add("TaskStarted", 2.05, resourceType="aws-sdk:s3", resource="putObject")
    h.add(
        "TaskSucceeded",
        2.2,
        resourceType="aws-sdk:s3",
        resource="putObject",
        output="{}",
        outputDetails={"truncated": False},
    )
    h.exit("Task", "Record failure (ClientData)", 2.2, caught)
    h.enter("Fail", "ClientData failed", 2.2, caught)
    h.add("ExecutionFailed", 2.3, error="ValidationFailed", cause=cause)
    definition = {
        "StartAt": "Validate",
        "States": {
            "Validate": {
                **task("Validate", "Load"),
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "ResultPath": "$.error",
                        "Next": "Record failure (ClientData)",
                    }
                ],
            },
            "Load": task("Load", None),
            "Record failure (ClientData)": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
                "Next": "ClientData failed",
            },
            "ClientData failed": {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
        },
    }
    h.write(
        "client_data_caught_validation", "caught, recorded in S3, then failed", "FAILED", definition
    )


if __name__ == "__main__":
    successful_runs()
    running()
    lambda_failure()
    validation_error()
    timeout()
    throttled()
    map_failed_items()
    out_of_memory()
    data_limit()
    caught_validation()
