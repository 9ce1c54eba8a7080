"""Rejected input in the bridge's log: how many per reason, with one example each, at most
every few seconds (a misconfigured simulator must not flood the log, nor go unnoticed)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

from kilowatch.contract import Rejection

logger = logging.getLogger(__name__)

REJECTION_LOG_S = 10.0


class RejectionLog:
    """Counts rejections by reason; a WARNING line per `interval_s` that had any."""

    def __init__(
        self, interval_s: float = REJECTION_LOG_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._examples: dict[str, str] = {}
        self._since = clock()

    def add(self, rejections: Sequence[Rejection]) -> None:
        """Count a batch's rejections; log them once the interval has passed."""
        for rejection in rejections:
            self._counts[rejection.reason] += 1
            if rejection.reason not in self._examples:
                where = "/".join(part for part in (rejection.plant, rejection.meter) if part)
                self._examples[rejection.reason] = f"{where}: {rejection.detail}"[:300]
        if self._counts and self._clock() - self._since >= self._interval_s:
            self.flush()

    def flush(self) -> None:
        """Log what was counted (if anything) and start counting again."""
        if self._counts:
            logger.warning(
                "set aside %d input(s) in the last %.0f s (stored in measurement rejected): %s",
                sum(self._counts.values()),
                self._clock() - self._since,
                "; ".join(
                    f"{reason} x{count}, e.g. {self._examples[reason]}"
                    for reason, count in self._counts.most_common()
                ),
            )
        self._counts.clear()
        self._examples.clear()
        self._since = self._clock()
