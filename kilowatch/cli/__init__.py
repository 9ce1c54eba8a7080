"""The `kilowatch` command: one entry point, a subcommand per process or tool."""

from __future__ import annotations

from kilowatch.cli.main import app

__all__ = ["app"]
