"""ETA arithmetic on recorded histories: medians of past successful runs, per state and item."""

from __future__ import annotations

import pytest

from kilowatch.sfn.eta import EtaModel, RunDurations, durations_of
from kilowatch.sfn.history import event_seconds, progress_of

from .conftest import load_history

OK_RUNS = [f"client_data_ok_{i}" for i in range(4)]


def _past(stems: list[str]) -> list[RunDurations]:
    return [durations_of(progress_of(load_history(stem)["events"])) for stem in stems]


def test_durations_of_a_successful_run() -> None:
    run = _past(["client_data_ok_3"])[0]
    assert run.path == ["Validate", "Load", "Indicators", "Notify"]
    assert run.state_s == pytest.approx(
        {"Validate": 100, "Load": 62, "Indicators": 30, "Notify": 2}
    )


def test_medians_resist_one_slow_run() -> None:
    model = EtaModel(_past(OK_RUNS))
    # Validate took 10, 12, 14 and 100 s: the median is 13 s, the mean would be 34 s.
    assert model.state_median_s == pytest.approx(
        {"Validate": 13, "Load": 63, "Indicators": 30, "Notify": 2}
    )


def test_eta_of_a_running_execution() -> None:
    """Load entered at 11.1 s and read at 41.1 s: (63 - 30) left of Load + 30 + 2 = 65 s."""
    doc = load_history("client_data_running")
    progress = progress_of(doc["events"], doc["definition"])
    now_s = event_seconds(doc["events"][0]) + 41.1
    eta = EtaModel(_past(OK_RUNS)).estimate(progress, now_s)
    assert eta.remaining_s == pytest.approx(65.0)
    assert eta.basis == "median of 4 runs"


def test_a_state_running_longer_than_usual_counts_zero_not_negative() -> None:
    doc = load_history("client_data_running")
    progress = progress_of(doc["events"], doc["definition"])
    now_s = event_seconds(doc["events"][0]) + 11.1 + 500
    eta = EtaModel(_past(OK_RUNS)).estimate(progress, now_s)
    assert eta.remaining_s == pytest.approx(32.0)


def test_too_few_runs_hide_the_eta_and_say_why() -> None:
    doc = load_history("client_data_running")
    progress = progress_of(doc["events"], doc["definition"])
    eta = EtaModel(_past(OK_RUNS[:2])).estimate(progress, 0.0)
    assert eta.remaining_s is None
    assert eta.reason == "only 2 successful runs to learn from (needs 3)"


def test_a_state_never_seen_before_hides_the_eta() -> None:
    doc = load_history("client_data_running")
    progress = progress_of(doc["events"], doc["definition"])
    past = [RunDurations({"Validate": 1.0}, {}, ["Validate"])] * 3
    eta = EtaModel(past).estimate(progress, 0.0)
    assert eta.remaining_s is None and eta.reason == "state Load has no past runs"


def test_a_running_map_counts_items_left_times_the_median_item() -> None:
    """Plants: 4 items, 1 done and 1 running when read; items took 5, 5 and 6 s before.

    3 items left x 5 s median / 1 running side by side = 15 s, then Notify's median 1 s.
    """
    doc = load_history("billing_map_failed_items")
    events = doc["events"]
    cut = next(
        i
        for i, e in enumerate(events)
        if e["type"] == "MapIterationStarted" and e["mapIterationStartedEventDetails"]["index"] == 1
    )
    progress = progress_of(events[: cut + 1], doc["definition"])
    plants = progress.maps["Plants"]
    assert (plants.total, plants.done, plants.running) == (4, 1, 1)
    past = [
        RunDurations(
            {"Plants": 20.0, "Notify": 1.0}, {"Plants": [5.0, 5.0, 6.0]}, ["Plants", "Notify"]
        )
    ] * 3
    eta = EtaModel(past).estimate(progress, event_seconds(events[cut]))
    assert eta.remaining_s == pytest.approx(16.0)


def test_a_finished_execution_has_nothing_left() -> None:
    progress = progress_of(load_history("client_data_ok_0")["events"])
    assert EtaModel(_past(OK_RUNS)).estimate(progress, 0.0).remaining_s == 0.0
