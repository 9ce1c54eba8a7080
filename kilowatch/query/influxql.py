"""A plan as InfluxQL: InfluxDB 1.x, the 2.x v1 API (/query with a DBRP mapping) and 3.x.

Values are bound parameters (`$p0`, sent as JSON in `params`) by default; `bind=False` writes
them as string literals with InfluxQL's escapes instead, for servers that ignore `params`.
Identifiers come from closed sets (the schema's names) and are quoted all the same.

InfluxQL has no calendar months: a monthly query asks for local days, which the shaping adds
up into local months (exact for sums, maxima and minima).
"""

from __future__ import annotations

from kilowatch.query.plan import END_STAMP_SHIFT_S, Plan, Rendered, utc_text

VALUE = "value"
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_IDENT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def quote_ident(name: str) -> str:
    """A double-quoted identifier: "line"."""
    return '"' + name.translate(_IDENT_ESCAPES) + '"'


def quote_string(value: str) -> str:
    """A single-quoted string literal with backslash, quote and newline escaped."""
    return "'" + value.translate(_STRING_ESCAPES) + "'"


class _Values:
    """Collects the values a query uses: as `$pN` parameters, or as escaped literals."""

    def __init__(self, bind: bool) -> None:
        self.bind = bind
        self.params: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        if not self.bind:
            return quote_string(value)
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"


def _where(plan: Plan, values: _Values, start: str | None, end: str | None) -> str:
    clauses = []
    for tag, accepted in plan.filters:
        either = " OR ".join(f"{quote_ident(tag)} = {values(v)}" for v in accepted)
        clauses.append(f"({either})")
    # Readings are stamped at the end of their interval: the range [start, end) holds (start, end].
    if start is not None:
        clauses.append(f"time {'>=' if plan.measurement == 'billing' else '>'} {values(start)}")
    if end is not None:
        clauses.append(f"time <= {values(end)}")
    return " AND ".join(clauses)


def _group_by(plan: Plan, seconds: int | None, *, offset: bool) -> str:
    parts = []
    if seconds is not None:
        parts.append(f"time({seconds}s, {END_STAMP_SHIFT_S}s)" if offset else f"time({seconds}s)")
    if plan.group is not None:
        parts.append(quote_ident(plan.group))
    if plan.measurement == "billing":
        parts.append(quote_ident("billing_period"))
    return f" GROUP BY {', '.join(parts)}" if parts else ""


def _bucket_seconds(plan: Plan) -> int | None:
    if plan.bucket is None:
        return None
    return plan.bucket.seconds if plan.bucket.unit == "fixed" else 86_400


def render_influxql(plan: Plan, *, bind: bool = True) -> Rendered:
    """The plan as one InfluxQL SELECT; time comes back as bucket start + 1 s (see the shift)."""
    values = _Values(bind)
    field = quote_ident(plan.field)
    source = quote_ident(plan.measurement)
    tz = f" tz({quote_string(plan.timezone)})"
    start = utc_text(plan.start) if plan.start is not None else None
    end = utc_text(plan.end) if plan.end is not None else None
    seconds = _bucket_seconds(plan)
    fill = " fill(none)" if seconds is not None else ""
    if plan.window_s is None:
        where = _where(plan, values, start, end)
        group_by = _group_by(plan, seconds, offset=True)
        text = (
            f"SELECT {plan.aggregate}({field}) AS {VALUE} FROM {source} WHERE {where}"
            f"{group_by}{fill}{tz}"
        )
        return Rendered("influxql", text, values.params)
    # Demand and base load: sums over fixed windows (across the group's meters), then the
    # largest or smallest window of each bucket. The windows' times are their start + 1 s.
    assert plan.start is not None
    inner_where = _where(plan, values, start, end)
    inner_group = _group_by(plan, plan.window_s, offset=True)
    inner = (
        f"SELECT sum({field}) AS {VALUE} FROM {source} WHERE {inner_where}{inner_group} fill(none)"
    )
    # A window that begins before `start` (a range not aligned to windows) is still in range.
    outer_start = utc_text(plan.start, END_STAMP_SHIFT_S - plan.window_s)
    outer_end = utc_text(plan.end or plan.start, END_STAMP_SHIFT_S)
    outer_bounds = f"time >= {values(outer_start)} AND time <= {values(outer_end)}"
    outer_group = _group_by(plan, seconds, offset=True)
    text = (
        f"SELECT {plan.aggregate}({VALUE}) AS {VALUE} FROM ({inner}) WHERE {outer_bounds}"
        f"{outer_group}{fill}{tz}"
    )
    return Rendered("influxql", text, values.params)
