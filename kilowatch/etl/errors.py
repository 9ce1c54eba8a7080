"""The ETL component's exceptions: a file that cannot be loaded, and every bad cell of one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class EtlError(ValueError):
    """A client file (or its target) cannot be used; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad cell (or row, or missing column) of a file; `rows` are the file's line numbers."""

    column: str  # "" for a whole-row or whole-file problem
    problem: str  # what is wrong, e.g. "is not a number"
    rows: tuple[int, ...]  # the file's row numbers (header is row 1); empty for a missing column
    values: tuple[str, ...] = ()  # a few of the offending values, as read


class EtlValidationError(EtlError):
    """A file failed its schema: one sentence, then every problem with its rows."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        bad_rows = {row for p in self.problems for row in p.rows}
        where = f" in {len(bad_rows)} row(s)" if bad_rows else ""  # missing columns: no rows
        lines = [
            f"{source} has {len(self.problems)} problem(s){where}; "
            "nothing was written: fix the file and run again"
        ]
        lines += [f"  {describe(p)}" for p in self.problems]
        super().__init__("\n".join(lines))


MAX_VALUES_SHOWN = 5


def row_ranges(rows: Sequence[int]) -> str:
    """'2, 5-9, 12': every row, consecutive runs collapsed."""
    parts: list[str] = []
    ordered = sorted(set(rows))
    k = 0
    while k < len(ordered):
        j = k
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[k]) if j == k else f"{ordered[k]}-{ordered[j]}")
        k = j + 1
    return ", ".join(parts)


def describe(problem: Problem) -> str:
    """'column units: is not a number in rows 3, 7-9 (abc, n/a)'; a whole-row problem:
    'rows 2-3: repeats another row's ...'."""
    noun = "row" if len(problem.rows) == 1 else "rows"
    if not problem.column:
        return f"{noun} {row_ranges(problem.rows)}: {problem.problem}"
    if not problem.rows:
        return f"column {problem.column}: {problem.problem}"
    shown = ", ".join(problem.values[:MAX_VALUES_SHOWN])
    more = "" if len(problem.values) <= MAX_VALUES_SHOWN else ", ..."
    values = f" ({shown}{more})" if shown else ""
    return (
        f"column {problem.column}: {problem.problem} in {noun} {row_ranges(problem.rows)}{values}"
    )
