"""Per-state durations of past successful runs, read once and cached on disk (for the ETA)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from kilowatch.sfn.client import SfnApi
from kilowatch.sfn.eta import RunDurations, durations_of
from kilowatch.sfn.history import progress_of

logger = logging.getLogger(__name__)

DEFAULT_RUNS = 12  # successful runs the medians are taken over


def cache_dir() -> Path:
    """Where learned durations are kept: $KILOWATCH_CACHE_DIR, else ~/.cache/kilowatch/sfn."""
    explicit = os.environ.get("KILOWATCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kilowatch" / "sfn"


def _to_json(run: RunDurations) -> dict[str, object]:
    return {"state_s": run.state_s, "item_s": run.item_s, "path": run.path}


def _from_json(doc: dict[str, object]) -> RunDurations:
    return RunDurations(
        state_s={str(k): float(v) for k, v in dict(doc["state_s"]).items()},  # type: ignore[call-overload]
        item_s={str(k): [float(x) for x in v] for k, v in dict(doc["item_s"]).items()},  # type: ignore[call-overload]
        path=[str(name) for name in doc["path"]],  # type: ignore[attr-defined]
    )


def past_runs(
    api: SfnApi, machine_arn: str, runs: int = DEFAULT_RUNS, cache: Path | None = None
) -> list[RunDurations]:
    """Durations of the last `runs` successful executions, newest first.

    A succeeded execution's history never changes, so each is read once and then kept in
    the cache: following an execution costs one list_executions call, not N histories.
    """
    folder = cache or cache_dir()
    path = folder / f"{hashlib.sha256(machine_arn.encode()).hexdigest()[:24]}.json"
    known: dict[str, dict[str, object]] = {}
    if path.exists():
        try:
            known = json.loads(path.read_text())
        except ValueError:
            logger.warning("ignoring unreadable ETA cache %s", path)
    found: list[RunDurations] = []
    changed = False
    for execution in api.list_executions(machine_arn, status="SUCCEEDED", limit=runs):
        arn = str(execution["executionArn"])
        if arn not in known:
            events = api.full_history(arn, include_data=False)
            known[arn] = _to_json(durations_of(progress_of(events)))
            changed = True
        found.append(_from_json(known[arn]))
    if changed:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known))
        except OSError as err:  # a read-only home must not stop the watcher
            logger.warning("could not write the ETA cache %s: %s", path, err)
    return found
