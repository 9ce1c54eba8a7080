"""What following a long execution costs: `python bench/bench_sfn.py`.

An execution grows to 10,000 history events (a Map of 1,425 Lambda items, in the exact event
shapes of get_execution_history) while `kilowatch sfn watch` follows it, polling every time a
batch of events has been added. Two readers follow the same growth in the same run:

- incremental (kilowatch's HistoryReader): pages newest-first and stops at the last event it
  has read, so each poll costs about one call per 1,000 new events;
- naive (the baseline): every poll reads the whole history again from the start.

Reported: API calls, events (and JSON megabytes) transferred, the CPU time of the whole
follow (JSON parsing, folding, ETA, rendering) and the time to render the live view (rich, to a
terminal-sized buffer) per poll. moto's Step Functions returns a
history in one page whatever maxResults says, so the service here is an in-process stand-in
that pages exactly as the API documents (maxResults <= 1000, nextToken, reverseOrder).
Network time is not measured: it is the call count times your round trip (~50-100 ms).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from rich.console import Console  # noqa: E402

from kilowatch.sfn.client import HistoryReader, NaiveHistoryReader, SfnApi  # noqa: E402
from kilowatch.sfn.eta import EtaModel, RunDurations  # noqa: E402
from kilowatch.sfn.follow import follow  # noqa: E402
from kilowatch.sfn.history import Progress  # noqa: E402
from kilowatch.sfn.render import live_view  # noqa: E402

ARN = "arn:aws:states:eu-west-1:123456789012:execution:kilowatch-recost:long"
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:kilowatch-recost"
DEFINITION = {
    "StartAt": "Plan recost",
    "States": {
        "Plan recost": {"Type": "Task", "Next": "Recost days"},
        "Recost days": {"Type": "Map", "Next": "Summarize recost"},
        "Summarize recost": {"Type": "Task", "End": True},
    },
}
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def history(items: int) -> list[dict[str, Any]]:
    """A recost execution's events: plan, a Map over `items` days (7 events each), summary."""
    events: list[dict[str, Any]] = []

    def add(kind: str, prev: int | None = None, **details: Any) -> int:
        event_id = len(events) + 1
        event: dict[str, Any] = {
            "timestamp": T0 + timedelta(seconds=event_id * 0.5),
            "type": kind,
            "id": event_id,
            "previousEventId": event_id - 1 if prev is None else prev,
        }
        if details:
            key = (
                "stateEntered"
                if kind.endswith("StateEntered")
                else ("stateExited" if kind.endswith("StateExited") else kind[0].lower() + kind[1:])
            )
            event[f"{key}EventDetails"] = details
        events.append(event)
        return event_id

    def lambda_task(name: str, data: dict[str, Any], prev: int | None = None) -> None:
        add("TaskStateEntered", prev, name=name, input=json.dumps(data))
        add(
            "TaskScheduled",
            resourceType="lambda",
            resource="invoke",
            region="eu-west-1",
            parameters=json.dumps({"Payload": data}),
        )
        add("TaskStarted", resourceType="lambda", resource="invoke")
        add(
            "TaskSucceeded",
            resourceType="lambda",
            resource="invoke",
            output=json.dumps({"Payload": {"summary": {"points": 96}, "results": None}}),
        )
        add("TaskStateExited", name=name, output=json.dumps({"summary": {"points": 96}}))

    add("ExecutionStarted", 0, input=json.dumps({"plant": "hmo"}))
    lambda_task("Plan recost", {"plant": "hmo"})
    add("MapStateEntered", name="Recost days", input="{}")
    started = add("MapStateStarted", length=items)
    for index in range(items):
        day = (T0.date() + timedelta(days=index)).isoformat()
        iteration = add("MapIterationStarted", started, name="Recost days", index=index)
        lambda_task("Recost day", {"plant": "hmo", "day": day}, prev=iteration)
        add("MapIterationSucceeded", name="Recost days", index=index)
    add("MapStateSucceeded")
    add("MapStateExited", name="Recost days", output="{}")
    lambda_task("Summarize recost", {"workflow": "recost"})
    add("ExecutionSucceeded", output=json.dumps({"summary": "done"}))
    return events


class GrowingExecution:
    """Step Functions for one execution whose history grows by `step` events per poll.

    get_execution_history pages as the API does: at most maxResults (<= 1000) events,
    oldest or newest first, and a nextToken while more remain.
    """

    def __init__(self, events: list[dict[str, Any]], step: int) -> None:
        self.events = events
        self.step = step
        self.visible = min(step, len(events))
        self.events_sent = 0
        self.bytes_sent = 0

    def grow(self, _seconds: float = 0.0) -> None:
        """Time passes: the next batch of events happens."""
        self.visible = min(len(self.events), self.visible + self.step)

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        done = self.visible == len(self.events)
        return {
            "executionArn": executionArn,
            "stateMachineArn": MACHINE,
            "name": "long",
            "status": "SUCCEEDED" if done else "RUNNING",
            "startDate": T0,
        }

    def describe_state_machine_for_execution(self, executionArn: str) -> dict[str, Any]:
        return {"definition": json.dumps(DEFINITION), "stateMachineArn": MACHINE}

    def get_execution_history(
        self,
        executionArn: str,
        maxResults: int = 100,
        reverseOrder: bool = False,
        nextToken: str | None = None,
        includeExecutionData: bool = True,
    ) -> dict[str, Any]:
        shown = self.events[: self.visible]
        ordered = shown[::-1] if reverseOrder else shown
        offset = int(nextToken or 0)
        page = ordered[offset : offset + min(maxResults, 1000)]
        self.events_sent += len(page)
        response: dict[str, Any] = {"events": page}
        if offset + len(page) < len(ordered):
            response["nextToken"] = str(offset + len(page))
        # Through JSON, as the wire and botocore's parser would carry it.
        body = json.dumps(response, default=str)
        self.bytes_sent += len(body)
        return dict(json.loads(body))


def run(
    reader_class: type[HistoryReader], events: list[dict[str, Any]], step: int, items: int
) -> dict[str, float]:
    """Follow the growing execution to its end with one reader; what it cost."""
    service = GrowingExecution(events, step)
    api = SfnApi(service, sleep=lambda _s: None)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    model = EtaModel(
        [
            RunDurations(
                {"Plan recost": 2.0, "Recost days": 700.0, "Summarize recost": 1.0},
                {"Recost days": [3.0]},
                ["Plan recost", "Recost days", "Summarize recost"],
            )
        ]
        * 12
    )
    renders: list[float] = []

    def show(progress: Progress, eta: Any, now_s: float) -> None:
        started = time.perf_counter()
        console.print(live_view("long", progress, eta, now_s))
        renders.append(time.perf_counter() - started)

    started = time.perf_counter()
    followed = follow(
        api,
        ARN,
        show,
        eta_model=model,
        poll_s=0.0,
        reader=reader_class(api, ARN),
        sleep=service.grow,
    )
    total_s = time.perf_counter() - started
    assert followed.progress.status == "SUCCEEDED"
    assert followed.progress.maps["Recost days"].succeeded == items
    return {
        "polls": followed.polls,
        "calls": api.calls["get_execution_history"],
        "events": service.events_sent,
        "megabytes": service.bytes_sent / 1e6,
        "total_s": total_s,
        "render_ms": 1000 * sum(renders) / len(renders),
        "render_max_ms": 1000 * max(renders),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1425, help="Map items (7 events each)")
    parser.add_argument("--step", type=int, default=100, help="new events per poll")
    args = parser.parse_args(argv)
    events = history(args.items)
    print(f"history: {len(events):,} events, {args.step} new per poll")
    results: dict[str, dict[str, float]] = {}
    for name, reader in (("incremental", HistoryReader), ("naive", NaiveHistoryReader)):
        results[name] = figures = run(reader, events, args.step, args.items)
        print(
            f"{name:>11}: {figures['polls']:.0f} polls, "
            f"{figures['calls']:,.0f} get_execution_history calls, "
            f"{figures['events']:,.0f} events ({figures['megabytes']:.1f} MB) transferred, "
            f"{figures['total_s']:.2f} s CPU "
            f"(render {figures['render_ms']:.1f} ms/poll, max {figures['render_max_ms']:.1f} ms)"
        )
    inc, naive = results["incremental"], results["naive"]
    print(
        f"ratio naive/incremental: {naive['calls'] / inc['calls']:.1f}x calls, "
        f"{naive['events'] / inc['events']:.1f}x events, "
        f"{naive['total_s'] / inc['total_s']:.1f}x CPU"
    )
    per_call_s = 0.08
    print(
        f"at {per_call_s * 1000:.0f} ms per call: {inc['calls'] * per_call_s:.0f} s of API time "
        f"incremental, {naive['calls'] * per_call_s:.0f} s naive"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
