"""The one error of kilowatch.sfn that a person must fix (shown as `error: ...`, exit 2)."""

from __future__ import annotations


class SfnError(ValueError):
    """A Step Functions problem a person must fix: an unknown machine, no region, bad input."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
