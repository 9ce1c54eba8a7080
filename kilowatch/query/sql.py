"""A plan as SQL for InfluxDB 3 (Apache DataFusion): one table per measurement, tags and fields
as columns, and a `time` column.

Values are `$name` query parameters (influxdb3-python's `query_parameters`). Fixed buckets use
`date_bin` on UTC time; local days and months use `date_trunc` on `tz(time, zone)`, InfluxDB 3's
conversion to the plant's zone. DuckDB runs the same text once `duckdb_session()` has defined
`date_bin` and `tz` for it (see `kilowatch.query.runners.DuckDBRunner`).
"""

from __future__ import annotations

from kilowatch.query.plan import END_STAMP_SHIFT_S, Plan, Rendered, utc_text

_STRING_ESCAPES = str.maketrans({"'": "''"})
ORIGIN = "TIMESTAMP '1970-01-01T00:00:00'"


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    """A single-quoted SQL string literal (quotes doubled)."""
    return "'" + value.translate(_STRING_ESCAPES) + "'"


def _bucket(plan: Plan, expr: str) -> str:
    assert plan.bucket is not None
    if plan.bucket.unit == "fixed":
        return f"date_bin(INTERVAL '{plan.bucket.seconds} seconds', {expr}, {ORIGIN})"
    return f"date_trunc('{plan.bucket.unit}', tz({expr}, {quote_string(plan.timezone)}))"


VALUE, TAG, BUCKET, WINDOW = '"value"', '"tag"', '"bucket"', '"window"'


def render_sql(plan: Plan) -> Rendered:
    """The plan as one SELECT returning columns bucket (when binned), tag (when grouped), value."""
    params: dict[str, str] = {}

    def bound(value: str) -> str:
        name = f"p{len(params)}"
        params[name] = value
        return f"${name}"

    where = []
    for tag, accepted in plan.filters:
        where.append(f"{quote_ident(tag)} IN ({', '.join(bound(v) for v in accepted)})")
    if plan.start is not None:
        # Readings are stamped at the end of their interval: [start, end) holds (start, end].
        op = ">=" if plan.aggregate == "last" else ">"
        where.append(f'"time" {op} CAST({bound(utc_text(plan.start))} AS TIMESTAMP)')
    if plan.end is not None:
        where.append(f'"time" <= CAST({bound(utc_text(plan.end))} AS TIMESTAMP)')
    field = quote_ident(plan.field)
    where.append(f"{field} IS NOT NULL")
    condition = " AND ".join(where)
    table = quote_ident(plan.measurement)
    group = quote_ident(plan.group) if plan.group is not None else None
    tags = [f"{group} AS {TAG}"] if group else []

    if plan.aggregate == "last":  # the bill: each billing period's latest point
        partition = ", ".join(['"billing_period"'] + ([group] if group else []))
        inner_columns = ", ".join(['"billing_period"', *tags, f"{field} AS {VALUE}"])
        rank = f'row_number() OVER (PARTITION BY {partition} ORDER BY "time" DESC) AS "rank"'
        inner = f"SELECT {inner_columns}, {rank} FROM {table} WHERE {condition}"
        columns = ", ".join(['"billing_period"'] + ([TAG] if group else []))
        text = f'SELECT {columns}, {VALUE} FROM ({inner}) AS b WHERE "rank" = 1 ORDER BY {columns}'
        return Rendered("sql", text, params)

    shifted = f"\"time\" - INTERVAL '{END_STAMP_SHIFT_S} second'"
    if plan.window_s is not None:
        # Demand and base load: sums over fixed windows, then each bucket's largest or smallest.
        window = f"date_bin(INTERVAL '{plan.window_s} seconds', {shifted}, {ORIGIN})"
        inner_columns = ", ".join([f"{window} AS {WINDOW}", *tags, f"sum({field}) AS {VALUE}"])
        inner_keys = ", ".join(str(i + 1) for i in range(1 + len(tags)))
        inner = f"SELECT {inner_columns} FROM {table} WHERE {condition} GROUP BY {inner_keys}"
        source, value, time_expr = f"({inner}) AS w", f"{plan.aggregate}({VALUE})", WINDOW
        tags = [TAG] if group else []
    else:
        source = f"{table} WHERE {condition}"
        value, time_expr = f"{plan.aggregate}({field})", shifted
    select = [f"{_bucket(plan, time_expr)} AS {BUCKET}"] if plan.bucket is not None else []
    select += tags
    keys = ", ".join(str(i + 1) for i in range(len(select)))
    text = f"SELECT {', '.join([*select, f'{value} AS {VALUE}'])} FROM {source}"
    if keys:
        text += f" GROUP BY {keys}"
    if plan.limit is not None:
        text += f" ORDER BY {VALUE} DESC LIMIT {int(plan.limit)}"
    elif keys:
        text += f" ORDER BY {keys}"
    return Rendered("sql", text, params)
