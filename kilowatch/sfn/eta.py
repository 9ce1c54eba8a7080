"""ETA of a running execution from the medians of past successful runs (pure arithmetic)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

from kilowatch.sfn.history import Progress

MIN_RUNS = 3  # fewer successful runs than this make a median too shaky to show


@dataclass(frozen=True)
class RunDurations:
    """How long each top-level state (and each Map item) took in one successful run."""

    state_s: dict[str, float]
    item_s: dict[str, list[float]]
    path: list[str]


def durations_of(progress: Progress) -> RunDurations:
    """Per-state seconds of a finished run (a state entered twice counts both times)."""
    state_s: dict[str, float] = {}
    path: list[str] = []
    for run in progress.top_runs:
        if run.exited_s is None:
            continue
        state_s[run.name] = state_s.get(run.name, 0.0) + (run.exited_s - run.entered_s)
        if run.name not in path:
            path.append(run.name)
    items = {name: list(m.item_s) for name, m in progress.maps.items() if m.item_s}
    return RunDurations(state_s, items, path)


@dataclass(frozen=True)
class Eta:
    """Seconds left, the basis of the figure, or why there is none."""

    remaining_s: float | None
    basis: str = ""
    reason: str = ""
    runs: int = 0


@dataclass
class EtaModel:
    """Medians learned from the last N successful runs (newest first)."""

    runs: Sequence[RunDurations]
    min_runs: int = MIN_RUNS
    state_median_s: dict[str, float] = field(init=False)
    state_samples: dict[str, int] = field(init=False)
    item_median_s: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        samples: dict[str, list[float]] = {}
        items: dict[str, list[float]] = {}
        for run in self.runs:
            for name, seconds in run.state_s.items():
                samples.setdefault(name, []).append(seconds)
            for name, seconds_list in run.item_s.items():
                items.setdefault(name, []).extend(seconds_list)
        self.state_median_s = {name: median(values) for name, values in samples.items()}
        self.state_samples = {name: len(values) for name, values in samples.items()}
        self.item_median_s = {name: median(values) for name, values in items.items()}

    @property
    def path(self) -> list[str]:
        """The top-level states in the order the newest run went through them."""
        return list(self.runs[0].path) if self.runs else []

    def estimate(self, progress: Progress, now_s: float) -> Eta:
        """Seconds left for `progress` at `now_s`, or a reason why no ETA is shown."""
        count = len(self.runs)
        basis = f"median of {count} run{'s' if count != 1 else ''}"
        if progress.status != "RUNNING":
            return Eta(0.0, basis, runs=count)
        if count < self.min_runs:
            return Eta(
                None,
                reason=f"only {count} successful run{'s' if count != 1 else ''} "
                f"to learn from (needs {self.min_runs})",
                runs=count,
            )
        done = {run.name for run in progress.top_runs if run.status != "running"}
        current = progress.current
        remaining_s = 0.0
        if current is not None:
            left = self._left_in(progress, current.name, current.elapsed_s(now_s))
            if left is None:
                return Eta(None, reason=f"state {current.name} has no past runs", runs=count)
            remaining_s += left
        path = self.path
        start = path.index(current.name) + 1 if current and current.name in path else 0
        for name in path[start:]:
            if name in done:
                continue
            if name not in self.state_median_s:
                return Eta(None, reason=f"state {name} has no past runs", runs=count)
            remaining_s += self.state_median_s[name]
        return Eta(remaining_s, basis, runs=count)

    def _left_in(self, progress: Progress, name: str, elapsed_s: float) -> float | None:
        """Seconds left in the running state: by items left for a Map, else by its median."""
        map_progress = progress.maps.get(name)
        item_s = self.item_median_s.get(name)
        if map_progress is not None and map_progress.total and item_s is not None:
            left_items = max(0, map_progress.total - map_progress.done)
            # Items run side by side: as many as run now (at least one) share the rest.
            width = max(1, map_progress.running)
            return item_s * left_items / width
        if name not in self.state_median_s:
            return None
        return max(0.0, self.state_median_s[name] - elapsed_s)
