"""Stopping a process cleanly on SIGINT or SIGTERM: the one way every app does it."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event, abort: threading.Event | None = None) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop`, a second one `abort` (if given); the old handlers come back
    afterwards. Off the main thread (where handlers cannot be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: object) -> None:
        if stop.is_set() and abort is not None:
            abort.set()
        elif not stop.is_set():
            logger.info("%s: stopping", signal.Signals(signum).name)
            stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
