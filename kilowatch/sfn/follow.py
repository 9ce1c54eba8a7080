"""Follow an execution to its end: poll the history incrementally, fold it, report each change."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kilowatch.sfn.client import HistoryReader, SfnApi
from kilowatch.sfn.eta import Eta, EtaModel
from kilowatch.sfn.history import Progress, top_level_states

POLL_S = 2.0
Update = Callable[[Progress, Eta | None, float], None]


@dataclass
class Followed:
    """The execution as it ended, and what following it cost."""

    progress: Progress
    execution: dict[str, object]
    polls: int


def apply_map_run(progress: Progress, name: str, description: dict[str, object]) -> None:
    """Take a Distributed Map's item counts from describe_map_run (its history has none)."""
    counts = description.get("itemCounts")
    if not isinstance(counts, dict):
        return
    target = progress.maps[name]
    target.total = int(counts.get("total", 0))
    target.succeeded = int(counts.get("succeeded", 0))
    target.failed = int(counts.get("failed", 0))
    target.aborted = int(counts.get("aborted", 0)) + int(counts.get("timedOut", 0))
    target.started = target.done + int(counts.get("running", 0))


def follow(
    api: SfnApi,
    execution_arn: str,
    on_update: Update,
    *,
    eta_model: EtaModel | None = None,
    poll_s: float = POLL_S,
    reader: HistoryReader | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Followed:
    """Poll until the execution ends, calling `on_update(progress, eta, now_s)` each poll."""
    api.describe_execution(execution_arn)  # waits out eventual consistency after a start
    progress = Progress(top_states=top_level_states(api.definition_for(execution_arn)))
    reader = reader or HistoryReader(api, execution_arn)
    polls = 0
    while True:
        polls += 1
        progress.add(reader.read_new())
        for name, map_progress in progress.maps.items():
            owner = [run for run in progress.runs if run.name == name]
            running = bool(owner) and owner[-1].status == "running"
            if map_progress.map_run_arn and (running or progress.status != "RUNNING"):
                apply_map_run(progress, name, api.describe_map_run(map_progress.map_run_arn))
        now_s = clock()
        eta = eta_model.estimate(progress, now_s) if eta_model else None
        on_update(progress, eta, now_s)
        if progress.status != "RUNNING":
            break
        sleep(poll_s)
    execution = api.describe_execution(execution_arn)
    return Followed(progress, execution, polls)
