"""Progress of long writes: periodic log lines when stderr is not a terminal."""

from __future__ import annotations

import logging

import pytest

from kilowatch.etl import progress
from kilowatch.etl.progress import BAR_FROM_ROWS, Progress


def test_without_a_terminal_progress_is_logged_periodically(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    with (
        caplog.at_level(logging.INFO, logger=progress.__name__),
        Progress("writing points", 10, enabled=True) as bar,
    ):
        for _ in range(5):
            bar.advance(2)
    assert [r.getMessage() for r in caplog.records][-1] == "writing points: 10 of 10"


def test_small_files_show_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger=progress.__name__),
        Progress("writing points", BAR_FROM_ROWS - 1) as bar,
    ):
        bar.advance(BAR_FROM_ROWS - 1)
    assert caplog.records == []
