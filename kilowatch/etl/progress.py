"""Progress of long work: a rich bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Self

from rich.progress import Progress as RichProgress
from rich.progress import TaskID

logger = logging.getLogger(__name__)

LOG_EVERY_S = 5.0
BAR_FROM_ROWS = 50_000  # smaller files finish before a bar would be worth drawing


class Progress:
    """Counts done items of `total`; `enabled=None` decides by size and by stderr being a TTY."""

    def __init__(self, what: str, total: int, *, enabled: bool | None = None) -> None:
        self.what = what
        self.total = total
        self.done = 0
        shown = total >= BAR_FROM_ROWS if enabled is None else enabled
        self._bar: RichProgress | None = None
        self._log = shown and not sys.stderr.isatty()
        if shown and not self._log:
            self._bar = RichProgress(transient=True)
        self._task = TaskID(0)
        self._last_log = time.monotonic()

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total)
        elif self._log:
            logger.info("%s: 0 of %d", self.what, self.total)
        return self

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, advance=count)
        elif self._log and time.monotonic() - self._last_log >= LOG_EVERY_S:
            self._last_log = time.monotonic()
            logger.info("%s: %d of %d", self.what, self.done, self.total)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
