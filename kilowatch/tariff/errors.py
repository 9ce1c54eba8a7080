"""The tariff component's one exception."""

from __future__ import annotations


class TariffError(ValueError):
    """A tariff file or a costing call that cannot be used; the message says what to fix."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path  # the tariff file, when the problem is in one
