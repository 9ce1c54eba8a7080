"""A plan as Flux (InfluxDB 2.x; InfluxDB 3 does not run Flux).

Values are written as escaped string literals: InfluxDB OSS 2.x ignores query parameters
(only InfluxDB Cloud 2 binds `params`). Windows start at the plant's local midnight through
`option location`, so `1d` and `1mo` are local days and months across DST.
"""

from __future__ import annotations

from kilowatch.query.plan import END_STAMP_SHIFT_S, Plan, Rendered, utc_text

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def quote_string(value: str) -> str:
    """A Flux string literal; `${` is escaped so a value never interpolates an expression."""
    return '"' + value.translate(_STRING_ESCAPES).replace("${", "\\${") + '"'


def _column(tag: str) -> str:
    return f"r[{quote_string(tag)}]"


def _duration(plan: Plan) -> str:
    assert plan.bucket is not None
    return plan.bucket.text


def render_flux(plan: Plan, bucket: str) -> Rendered:
    """The plan as a Flux script reading `bucket`; `_time` is bucket start + 1 s (the shift)."""
    lines = [
        'import "timezone"',
        f"option location = timezone.location(name: {quote_string(plan.timezone)})",
        "",
        f"from(bucket: {quote_string(bucket)})",
    ]
    shift = END_STAMP_SHIFT_S if plan.measurement == "energy" else 0
    assert plan.start is not None
    stop = f", stop: {utc_text(plan.end, shift)}" if plan.end is not None else ""
    lines.append(f"  |> range(start: {utc_text(plan.start, shift)}{stop})")
    lines.append(
        f"  |> filter(fn: (r) => r._measurement == {quote_string(plan.measurement)}"
        f" and r._field == {quote_string(plan.field)})"
    )
    for tag, accepted in plan.filters:
        either = " or ".join(f"{_column(tag)} == {quote_string(v)}" for v in accepted)
        lines.append(f"  |> filter(fn: (r) => {either})")
    keys = [plan.group] if plan.group is not None else []
    if plan.measurement == "billing":
        keys.append("billing_period")
    columns = ", ".join(quote_string(k) for k in keys)
    lines.append(f"  |> group(columns: [{columns}])")
    window = f'offset: {END_STAMP_SHIFT_S}s, createEmpty: false, timeSrc: "_start"'
    if plan.window_s is not None:
        lines.append(f"  |> aggregateWindow(every: {plan.window_s}s, fn: sum, {window})")
    if plan.aggregate == "last":
        lines += ['  |> sort(columns: ["_time"])', "  |> last()"]
    elif plan.bucket is not None:
        lines.append(
            f"  |> aggregateWindow(every: {_duration(plan)}, fn: {plan.aggregate}, {window})"
        )
    else:
        lines.append(f"  |> {plan.aggregate}()")
    keep = ["_value", *keys] + (["_time"] if plan.bucket is not None else [])
    lines.append(f"  |> keep(columns: [{', '.join(quote_string(k) for k in keep)}])")
    if plan.limit is not None:
        lines += [
            "  |> group()",
            '  |> sort(columns: ["_value"], desc: true)',
            f"  |> limit(n: {int(plan.limit)})",
        ]
    return Rendered("flux", "\n".join(lines) + "\n")
