"""The Athena views for BI tools: one .sql file each in views/, read here by the construct
(a named query per view) and by the tests that run them on DuckDB."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

VIEWS_DIR = Path(__file__).resolve().parent / "views"
_NAME = re.compile(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+(\w+)\s+AS\b", re.IGNORECASE)
MAX_DESCRIPTION = 1024  # Athena's limit for a named query's description


@dataclass(frozen=True, slots=True)
class View:
    """One view: its name, what it shows (the file's leading comment) and its statement."""

    name: str
    description: str
    statement: str  # `CREATE OR REPLACE VIEW ... AS SELECT ...`, without the comment
    order: str  # the file's number: views are created in this order

    @property
    def query_name(self) -> str:
        """The name of its Athena named query; sorting the names gives the creation order."""
        return f"{self.order} create view {self.name}"


def read_view(path: Path) -> View:
    """A view from its .sql file: leading `--` lines describe it, the rest is the statement.

    The statement goes to Athena without the comment: Athena's DDL detection can trip over a
    statement that starts with one.
    """
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    comment = []
    while lines and lines[0].startswith("--"):
        comment.append(lines.pop(0).removeprefix("--").strip())
    statement = "\n".join(lines).strip().rstrip(";")
    found = _NAME.search(statement)
    if found is None or not statement.upper().startswith("CREATE"):
        raise ValueError(f"{path} must hold one CREATE OR REPLACE VIEW <name> AS statement")
    description = " ".join(comment)
    if len(description) > MAX_DESCRIPTION:
        raise ValueError(f"{path}: the comment is over Athena's {MAX_DESCRIPTION} characters")
    order = path.name.split("_", 1)[0]
    if not order.isdigit():
        raise ValueError(f"{path.name} must start with its number: 00_name.sql, 10_name.sql")
    return View(found.group(1), description, statement, order)


def views() -> list[View]:
    """Every view, in the order they must be created (a view reads the ones before it)."""
    return [read_view(path) for path in sorted(VIEWS_DIR.glob("*.sql"))]
