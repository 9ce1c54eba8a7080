"""Fold Step Functions history events into an execution's progress (pure, incremental)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Event = Mapping[str, Any]
Status = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
StateStatus = Literal["running", "succeeded", "failed"]

# Events that end an execution, and the status each one means.
_EXECUTION_END: dict[str, Status] = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
# Events that start an attempt of a task (a second one in the same state is a retry).
_ATTEMPT_START = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
# Events where an attempt or a state failed; each carries error and cause in its details.
_FAILURES = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
    "ActivityFailed",
    "ActivityTimedOut",
    "ActivityScheduleFailed",
    "MapRunFailed",
    "ExecutionFailed",
    "ExecutionTimedOut",
    "ExecutionAborted",
)
# Start and end events of Map and Parallel states (they carry no state name).
_CONTAINER_EVENTS = tuple(
    f"{state}State{what}"
    for state in ("Map", "Parallel")
    for what in ("Started", "Succeeded", "Failed", "Aborted")
)
# Events whose successor opens a new scope (a Map iteration or a Parallel branch).
_SCOPE_OPENERS = ("MapIterationStarted", "ParallelStateStarted")


def event_seconds(event: Event) -> float:
    """The event's time as Unix seconds (boto3 gives datetimes, recorded JSON gives ISO text)."""
    stamp = event["timestamp"]
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    if isinstance(stamp, int | float):
        return float(stamp)
    return datetime.fromisoformat(str(stamp)).timestamp()


def _details(event: Event) -> Mapping[str, Any]:
    """The event's one `...EventDetails` mapping (empty when it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, Mapping):
            return value
    return {}


@dataclass
class Attempt:
    """A failed try of a task, as the history records it."""

    event_type: str
    error: str
    cause: str
    at_s: float


@dataclass
class StateRun:
    """One entry into a state: when, with what input, how it went."""

    name: str
    state_type: str
    entered_s: float
    top_level: bool
    scope: int = 0
    input: str | None = None
    output: str | None = None
    exited_s: float | None = None
    status: StateStatus = "running"
    attempts: int = 0
    failures: list[Attempt] = field(default_factory=list)
    last_attempt_failed: bool = False  # a caught failure still exits the state

    @property
    def retries(self) -> int:
        """Attempts after the first one."""
        return max(0, self.attempts - 1)

    def elapsed_s(self, now_s: float) -> float:
        """Seconds spent in the state (so far, while it runs)."""
        return (self.exited_s if self.exited_s is not None else now_s) - self.entered_s


@dataclass
class MapProgress:
    """Iterations of one Map state: counted from the history, or by describe_map_run."""

    name: str
    total: int | None = None
    started: int = 0
    succeeded: int = 0
    failed: int = 0
    aborted: int = 0
    map_run_arn: str | None = None
    item_s: list[float] = field(default_factory=list)
    failed_items: list[int] = field(default_factory=list)
    _started_at: dict[int, float] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> int:
        """Iterations that ended, whichever way."""
        return self.succeeded + self.failed + self.aborted

    @property
    def running(self) -> int:
        """Iterations started and not ended."""
        return max(0, self.started - self.done)


@dataclass
class Failure:
    """Why an execution (or a state of it) failed, as raw as the history says it."""

    error: str
    cause: str
    event_type: str
    state: StateRun | None = None


@dataclass
class Progress:
    """An execution as far as its history has been read; `add` folds newer events in."""

    top_states: tuple[str, ...] = ()
    status: Status = "RUNNING"
    started_s: float | None = None
    stopped_s: float | None = None
    input: str | None = None
    output: str | None = None
    last_event_id: int = 0
    runs: list[StateRun] = field(default_factory=list)
    maps: dict[str, MapProgress] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    _by_event: dict[int, StateRun | None] = field(default_factory=dict, repr=False)
    _scope: dict[int, int] = field(default_factory=dict, repr=False)
    _types: dict[int, str] = field(default_factory=dict, repr=False)

    def add(self, events: Iterable[Event]) -> int:
        """Fold events newer than `last_event_id` in id order; return how many were new."""
        fresh = sorted((e for e in events if int(e["id"]) > self.last_event_id), key=_id)
        for event in fresh:
            self._fold(event)
            self.last_event_id = int(event["id"])
        return len(fresh)

    # --- views -------------------------------------------------------------------------

    @property
    def top_runs(self) -> list[StateRun]:
        """Entries into top-level states, in order."""
        return [run for run in self.runs if run.top_level]

    @property
    def current(self) -> StateRun | None:
        """The top-level state running now, if any."""
        running = [run for run in self.top_runs if run.status == "running"]
        return running[-1] if running else None

    @property
    def states_done(self) -> int:
        """Distinct top-level states that succeeded."""
        return len({run.name for run in self.top_runs if run.status == "succeeded"})

    @property
    def states_total(self) -> int:
        """Top-level states in the definition (Choice branches may skip some)."""
        return len(self.top_states) or len({run.name for run in self.top_runs})

    @property
    def failed_state(self) -> StateRun | None:
        """The state where the error began: the last one a task failure was recorded in."""
        for failure in reversed(self.failures):
            if failure.state is not None:
                return failure.state
        failed = [run for run in self.runs if run.status == "failed"]
        return failed[-1] if failed else None

    def elapsed_s(self, now_s: float) -> float:
        """Seconds since the execution started (until it stopped)."""
        if self.started_s is None:
            return 0.0
        return (self.stopped_s if self.stopped_s is not None else now_s) - self.started_s

    # --- folding -------------------------------------------------------------------------

    def _fold(self, event: Event) -> None:
        kind = str(event["type"])
        event_id = int(event["id"])
        previous = int(event.get("previousEventId") or 0)
        at_s = event_seconds(event)
        details = _details(event)
        self._types[event_id] = kind
        opened = self._types.get(previous) in _SCOPE_OPENERS
        self._scope[event_id] = previous if opened else self._scope.get(previous, 0)
        self._by_event[event_id] = self._by_event.get(previous)

        if kind == "ExecutionStarted":
            self.started_s = at_s
            self.input = details.get("input")
        elif kind in _EXECUTION_END:
            self.status = _EXECUTION_END[kind]
            self.stopped_s = at_s
            self.output = details.get("output")
            if kind != "ExecutionSucceeded":
                self._fail(kind, details, None, at_s)
                # States still open were cut short by the failure, timeout or abort.
                for cut in self.runs:
                    if cut.status == "running":
                        cut.status = "failed"
                        cut.exited_s = at_s
        elif kind.endswith("StateEntered"):
            entered = StateRun(
                name=str(details.get("name", "?")),
                state_type=kind.removesuffix("StateEntered"),
                entered_s=at_s,
                top_level=self._scope[event_id] == 0,
                scope=self._scope[event_id],
                input=details.get("input"),
            )
            self.runs.append(entered)
            self._by_event[event_id] = entered
            if kind == "FailStateEntered":
                entered.status = "failed"
                entered.exited_s = at_s
        elif kind.endswith("StateExited"):
            run = self._open(str(details.get("name", "")), self._by_event.get(previous))
            if run is not None:
                run.exited_s = at_s
                run.output = details.get("output")
                if run.status == "running":
                    run.status = "failed" if run.last_attempt_failed else "succeeded"
                # The exit's predecessor may be inside an iteration or branch; the exit is not.
                self._scope[event_id] = run.scope
                self._by_event[event_id] = run
        elif kind in _CONTAINER_EVENTS:
            # Map/Parallel start and end events point back into an iteration or a branch:
            # they belong to the innermost Map or Parallel state still open.
            run = self._container(kind)
            self._by_event[event_id] = run
            if run is not None:
                self._scope[event_id] = run.scope
                if kind.endswith(("Failed", "Aborted")) and run.status == "running":
                    run.status = "failed"
                if kind == "MapStateStarted":
                    self._fold_map(kind, details, at_s, event_id)
        elif kind.endswith("StateFailed") or kind.endswith("StateAborted"):
            run = self._by_event[event_id]
            if run is not None and run.status == "running":
                run.status = "failed"
        elif kind in _ATTEMPT_START:
            run = self._by_event[event_id]
            if run is not None:
                run.attempts += 1
                run.last_attempt_failed = False
        elif kind.startswith("Map"):
            self._fold_map(kind, details, at_s, event_id)
        if kind in _FAILURES and kind not in _EXECUTION_END:
            self._fail(kind, details, self._by_event[event_id], at_s)

    def _fold_map(self, kind: str, details: Mapping[str, Any], at_s: float, event_id: int) -> None:
        if kind.startswith("MapRun") and kind != "MapRunStarted":
            return  # a Map run's end shows in its Map state's own events
        owner = self._by_event[event_id]
        name = str(details.get("name") or (owner.name if owner else "?"))
        progress = self.maps.setdefault(name, MapProgress(name))
        index = int(details.get("index", -1))
        if kind == "MapStateStarted":
            progress.total = int(details.get("length", 0))
        elif kind == "MapRunStarted":
            progress.map_run_arn = details.get("mapRunArn")
        elif kind == "MapIterationStarted":
            progress.started += 1
            progress._started_at[index] = at_s
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            began = progress._started_at.pop(index, None)
            if kind == "MapIterationSucceeded":
                progress.succeeded += 1
                if began is not None:
                    progress.item_s.append(at_s - began)
            elif kind == "MapIterationFailed":
                progress.failed += 1
                progress.failed_items.append(index)
            else:
                progress.aborted += 1

    def _container(self, kind: str) -> StateRun | None:
        """The innermost open Map or Parallel state an event of this kind belongs to."""
        state_type = "Map" if kind.startswith("Map") else "Parallel"
        for run in reversed(self.runs):
            if run.state_type == state_type and run.exited_s is None:
                return run
        return None

    def _open(self, name: str, chained: StateRun | None) -> StateRun | None:
        """The entry an exit closes: the one its event chain leads to, else the latest open."""
        if chained is not None and chained.name == name and chained.exited_s is None:
            return chained
        for run in reversed(self.runs):
            if run.name == name and run.exited_s is None:
                return run
        return None

    def _fail(
        self, kind: str, details: Mapping[str, Any], run: StateRun | None, at_s: float
    ) -> None:
        error = str(details.get("error") or kind)
        cause = str(details.get("cause") or "")
        if run is not None:
            run.failures.append(Attempt(kind, error, cause, at_s))
            run.last_attempt_failed = True
        self.failures.append(Failure(error, cause, kind, run))


def _id(event: Event) -> int:
    return int(event["id"])


def top_level_states(definition: str | Mapping[str, Any]) -> tuple[str, ...]:
    """The top-level state names of an ASL definition, in the order they appear."""
    doc = json.loads(definition) if isinstance(definition, str) else definition
    return tuple(doc.get("States", {}))


def progress_of(
    events: Iterable[Event], definition: str | Mapping[str, Any] | None = None
) -> Progress:
    """Fold a whole history at once."""
    progress = Progress(top_states=top_level_states(definition) if definition else ())
    progress.add(events)
    return progress
