"""kilowatch.query: common questions about stored readings, in one line, as DataFrames.

    from kilowatch.query import InfluxQLRunner, Query, run

    q = Query.energy(plant="hmo").between("2026-10-01", "2026-11-01").by("line").every("1d")
    df = run(InfluxQLRunner("http://localhost:8086", "kilowatch"), q.sum("cost"))

The same query renders to InfluxQL, Flux and SQL (`q.render("flux")`); see docs/query.md.
"""

from __future__ import annotations

from kilowatch.query.model import Query
from kilowatch.query.plan import DIALECTS, KINDS, Dialect, Plan, QueryError, Rendered
from kilowatch.query.runners import (
    DataFusionRunner,
    DuckDBRunner,
    FluxRunner,
    InfluxQLRunner,
    QueryRunError,
    Runner,
    SqlRunner,
    run,
)
from kilowatch.query.shape import shape

__all__ = [
    "DIALECTS",
    "KINDS",
    "DataFusionRunner",
    "Dialect",
    "DuckDBRunner",
    "FluxRunner",
    "InfluxQLRunner",
    "Plan",
    "Query",
    "QueryError",
    "QueryRunError",
    "Rendered",
    "Runner",
    "SqlRunner",
    "run",
    "shape",
]
