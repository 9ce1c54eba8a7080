"""The `build` and `check` commands of a generator of provisioning files (dashboards, alerts):
`error: ...` and exit 2 for a person's error, exit 1 on drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

T = TypeVar("T")


def _attempt(work: Callable[[], T], errors: tuple[type[Exception], ...]) -> T:
    """The work's result; one of `errors` becomes `error: ...` on stderr and exit 2."""
    try:
        return work()
    except errors as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def run_build(build: Callable[[], list[Path]], errors: tuple[type[Exception], ...]) -> None:
    """Write the files; say which."""
    for path in _attempt(build, errors):
        typer.echo(f"wrote {path}")


def run_check(
    check: Callable[[], list[str]], errors: tuple[type[Exception], ...], matches: str
) -> None:
    """Print each drift problem and exit 1, or say `matches`."""
    problems = _attempt(check, errors)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(matches)
