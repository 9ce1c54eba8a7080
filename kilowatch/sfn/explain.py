"""Why an execution failed, in words a person can act on (pure: from a folded history)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kilowatch.sfn.history import Failure, Progress

MAX_BAD_ROWS = 20  # rows of a validation error worth reading in a terminal
_FRAME = re.compile(
    r'File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\s*(?P<code>.*)', re.S
)
_OWN_PATH = re.compile(r"(?:^|/)(kilowatch(?:_cdk)?/.*)$")
_NOT_AUTHORIZED = re.compile(r"is not authorized to perform: (\S+)(?: on resource: (\S+))?")


@dataclass
class Explanation:
    """A failure: where, what, how often it was retried, and what to do."""

    status: str
    state: str | None
    state_type: str | None
    error: str
    message: str
    retries: int = 0
    error_type: str | None = None
    trace: list[str] = field(default_factory=list)
    frames_hidden: int = 0
    input: str | None = None
    hint: str = ""
    bad_rows: list[dict[str, Any]] = field(default_factory=list)
    failed_items: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for --json)."""
        return {
            "status": self.status,
            "state": self.state,
            "state_type": self.state_type,
            "error": self.error,
            "error_type": self.error_type,
            "message": self.message,
            "retries": self.retries,
            "trace": self.trace,
            "frames_hidden": self.frames_hidden,
            "input": self.input,
            "hint": self.hint,
            "bad_rows": self.bad_rows,
            "failed_items": self.failed_items,
        }


def _lambda_error(cause: str) -> dict[str, Any] | None:
    """The Lambda error document in a `cause` (errorType, errorMessage, stackTrace), if any."""
    try:
        doc = json.loads(cause)
    except (ValueError, TypeError):
        return None
    if isinstance(doc, dict) and ("errorMessage" in doc or "errorType" in doc):
        return doc
    return None


def trim_trace(stack: list[Any]) -> tuple[list[str], int]:
    """Keep kilowatch's own frames as 'path:line in func: code'; count the others dropped."""
    kept: list[str] = []
    for frame in stack:
        if isinstance(frame, list) and len(frame) >= 3:  # older runtimes: [file, line, func, code]
            path, line, func = str(frame[0]), str(frame[1]), str(frame[2])
            code = str(frame[3]) if len(frame) > 3 else ""
        else:
            match = _FRAME.search(str(frame))
            if match is None:
                continue
            path, line, func = match["path"], match["line"], match["func"]
            code = " ".join(match["code"].split())
        own = _OWN_PATH.search(path.replace("\\", "/"))
        if own is None or "site-packages/" in own.group(1):
            continue
        kept.append(f"{own.group(1)}:{line} in {func}" + (f": {code}" if code else ""))
    return kept, len(stack) - len(kept)


def _validation_rows(message: str) -> tuple[str, list[dict[str, Any]]]:
    """A validation error's summary and bad rows, from kilowatch's JSON or pandera's text."""
    try:
        doc = json.loads(message)
    except ValueError:
        return message, []
    if isinstance(doc, dict) and isinstance(doc.get("bad_rows"), list):
        return str(doc.get("message", "")), list(doc["bad_rows"])[:MAX_BAD_ROWS]
    rows: list[dict[str, Any]] = []
    checks: list[str] = []
    if isinstance(doc, dict):  # pandera lazy SchemaErrors: {"DATA": {"KIND": [{...}]}}
        for kinds in doc.values():
            if not isinstance(kinds, dict):
                continue
            for kind, entries in kinds.items():
                for entry in entries if isinstance(entries, list) else []:
                    column = entry.get("column")
                    check = entry.get("check")
                    checks.append(f"{column}: {check or kind}")
                    text = str(entry.get("error", ""))
                    _, _, cases = text.partition("failure cases: ")
                    for value in cases.split(", ") if cases else []:
                        rows.append({"column": column, "check": check, "value": value})
    summary = "; ".join(checks) if checks else message
    return summary, rows[:MAX_BAD_ROWS]


def _is(error: str, message: str, *needles: str) -> bool:
    text = f"{error} {message}".lower()
    return any(needle.lower() in text for needle in needles)


def hint_for(error: str, message: str, error_type: str | None = None) -> str:
    """What to do about a failure of this kind (empty when there is nothing useful to say)."""
    kind = error_type or error
    if error == "ExecutionTimedOut":
        return (
            "The whole execution ran past the state machine's timeout (set in "
            "cdk/kilowatch_cdk/orchestration); the state named was running when it ran out."
        )
    if error == "ExecutionAborted":
        return "Someone or something stopped the execution (StopExecution); nothing failed."
    if _is(error, message, "Runtime.OutOfMemory", "Runtime exited with error: signal: killed"):
        return (
            "The Lambda ran out of memory. Give it more (memory_size in "
            "cdk/kilowatch_cdk/orchestration) or smaller pieces of work per item."
        )
    if error == "States.DataLimitExceeded":
        return (
            "A state's input or output passed Step Functions' 256 KiB limit. The task must "
            "write its result to S3 and return only the key and a small summary."
        )
    if _is(error, message, "States.Timeout", "Task timed out", "TimedOut"):
        return (
            "The task ran past its timeout. If the work is really that long, raise the task's "
            "timeout (and the Lambda's) in cdk/kilowatch_cdk/orchestration, or split the work; "
            "otherwise check what it waited on (InfluxDB, S3) at that time."
        )
    if _is(error, message, "TooManyRequests", "Throttl", "Rate exceeded", "SlowDown"):
        return (
            "AWS throttled the calls and the retries with backoff ran out. Lower the Map's "
            "MaxConcurrency or ask for a higher quota; running it again is safe."
        )
    if _is(error, message, "AccessDenied", "not authorized to perform", "Forbidden"):
        found = _NOT_AUTHORIZED.search(message)
        what = f" ({found.group(1)} on {found.group(2) or 'the resource'})" if found else ""
        return (
            f"A role lacks a permission{what}. Grant it in the CDK (a grant_* on the "
            "resource) and deploy; then run the execution again."
        )
    if kind in ("SchemaErrors", "SchemaError", "ValidationFailed") or _is("", message, "pandera"):
        return (
            "The data did not pass validation: fix the rows listed above in the file and "
            "upload it again."
        )
    if error == "States.ExceedToleratedFailureThreshold":
        return "Too many Map items failed; the error above is the last item's."
    if error == "States.Runtime":
        return (
            "The state machine's own data flow failed (a JSONPath matched nothing or an "
            "intrinsic function got a bad value): compare the state's input with its definition."
        )
    if error == "States.TaskFailed":
        return "The task failed without a more specific error name; the message says why."
    return ""


def _chosen(progress: Progress) -> Failure | None:
    """The failure to explain: the innermost task failure, else the execution's own."""
    for failure in reversed(progress.failures):
        if failure.state is not None:
            return failure
    return progress.failures[-1] if progress.failures else None


def explain(progress: Progress) -> Explanation | None:
    """Explain a failed, timed-out or aborted execution (None when nothing went wrong)."""
    failure = _chosen(progress)
    if failure is None and progress.status in ("RUNNING", "SUCCEEDED"):
        return None
    run = (failure.state if failure else None) or progress.failed_state
    error = failure.error if failure else progress.status
    cause = failure.cause if failure else ""
    doc = _lambda_error(cause)
    error_type = str(doc.get("errorType")) if doc and doc.get("errorType") else None
    message = str(doc.get("errorMessage", "")) if doc else cause
    trace, hidden = trim_trace(list(doc.get("stackTrace") or [])) if doc else ([], 0)
    bad_rows: list[dict[str, Any]] = []
    if error_type in ("SchemaErrors", "SchemaError", "ValidationFailed"):
        message, bad_rows = _validation_rows(message)
    if failure and failure.event_type == "ExecutionAborted":
        error = "ExecutionAborted"
    elif failure and failure.event_type == "ExecutionTimedOut":
        error = "ExecutionTimedOut"
    return Explanation(
        status=progress.status,
        state=run.name if run else None,
        state_type=run.state_type if run else None,
        error=error,
        message=message.strip(),
        retries=run.retries if run else 0,
        error_type=error_type,
        trace=trace,
        frames_hidden=hidden,
        input=run.input if run else progress.input,
        hint=hint_for(error, message, error_type),
        bad_rows=bad_rows,
        failed_items={n: m.failed_items for n, m in progress.maps.items() if m.failed_items},
    )
