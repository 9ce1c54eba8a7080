"""Grafana's InfluxQL interpolation: turn a panel's raw query into what Grafana sends to InfluxDB.

Covers what kilowatch's dashboards use: `$timeFilter`, `$__interval`, `$__interval_ms`,
`$__range`, `$__range_s`, `$__range_ms`, `${__from}`, `${__to}` and template variables written
`$name`, `${name}`, `${name:format}` or `[[name]]`. A multi-value (or include-all) variable
becomes a regex alternation `(a|b)` with each value regex-escaped, as Grafana's InfluxDB
datasource does; an "All" selection with a custom all value is inserted as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.support.grafana.timerange import TimeRange

# Grafana's rangeutil.roundInterval: (upper bound of the raw interval, interval used), in ms.
_ROUNDED_MS: tuple[tuple[int, int], ...] = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)
_YEAR_MS = 31_536_000_000
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_DURATION_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": _YEAR_MS,
}
# $name, ${name}, ${name:format}, [[name]], [[name:format]]
_REFERENCE = re.compile(
    r"\$\{(?P<braced>\w+)(?::(?P<braced_format>[^}]+))?\}"
    r"|\[\[(?P<bracketed>\w+)(?::(?P<bracketed_format>[^\]]+))?\]\]"
    r"|\$(?P<plain>\w+)"
)
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
ALL = "$__all"


class MacroError(ValueError):
    """A query names a variable or format that the dashboard does not define."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable's current selection, and the options "All" stands for."""

    name: str
    selected: tuple[str, ...]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: tuple[str, ...] = ()

    @property
    def regex_formatted(self) -> bool:
        """Grafana's InfluxDB datasource regex-escapes and joins multi and include-all values."""
        return self.multi or self.include_all


def round_interval_ms(raw_ms: float) -> int:
    """The "nice" interval Grafana uses for a raw one (e.g. 13.7 min becomes 15 min)."""
    for upper, rounded in _ROUNDED_MS:
        if raw_ms < upper:
            return rounded
    return _YEAR_MS


def duration_ms(text: str) -> int:
    """Milliseconds in a Grafana interval such as "5m", "1h" or "500ms"."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise MacroError(f"{text!r} is not an interval such as 10s, 5m or 1h")
    return int(match.group(1)) * _DURATION_MS[match.group(2)]


def format_duration(ms: int) -> str:
    """An interval as Grafana writes it into $__interval: "5m", "1h", "1d", "500ms"."""
    for unit in ("y", "d", "h", "m", "s"):
        size = _DURATION_MS[unit]
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def interval_ms(time_range: TimeRange, max_data_points: int, min_interval: str | None) -> int:
    """$__interval_ms for a panel: range / max data points, rounded, at least the min interval."""
    rounded = round_interval_ms(time_range.span_ms / max(1, max_data_points))
    floor = duration_ms(min_interval) if min_interval else 1
    return max(rounded, floor)


def escape_regex(value: str) -> str:
    """A value made literal inside an InfluxQL /regex/ (Grafana's escapeRegex)."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def format_variable(variable: Variable, fmt: str | None = None) -> str:
    """A variable's value as Grafana's InfluxDB datasource writes it into a query."""
    if ALL in variable.selected and variable.include_all:
        if variable.all_value is not None and fmt in (None, "regex", "raw"):
            return variable.all_value
        values = variable.options
    else:
        values = variable.selected
    if fmt == "raw":
        return ",".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt not in (None, "regex"):
        raise MacroError(f"variable {variable.name!r}: format {fmt!r} is not supported here")
    if fmt == "regex" or variable.regex_formatted:
        escaped = [escape_regex(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    return values[0] if values else ""


def builtins(time_range: TimeRange, interval: int) -> dict[str, str]:
    """Grafana's global variables for one panel query."""
    range_ms = time_range.span_ms
    return {
        "timeFilter": f"time >= {time_range.start_ms}ms and time <= {time_range.end_ms}ms",
        "__interval": format_duration(interval),
        "__interval_ms": str(interval),
        "__range": format_duration(max(1, round(range_ms / 1000)) * 1000),
        "__range_s": str(round(range_ms / 1000)),
        "__range_ms": str(range_ms),
        "__from": str(time_range.start_ms),
        "__to": str(time_range.end_ms),
    }


def interpolate(
    query: str,
    *,
    time_range: TimeRange,
    interval: int,
    variables: Mapping[str, Variable] | Sequence[Variable] = (),
) -> str:
    """The query with every macro and variable replaced; MacroError names an unknown one."""
    if not isinstance(variables, Mapping):
        variables = {v.name: v for v in variables}
    globals_ = builtins(time_range, interval)

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bracketed") or match.group("plain")
        fmt = match.group("braced_format") or match.group("bracketed_format")
        if name in globals_:
            return globals_[name]
        if name in variables:
            return format_variable(variables[name], fmt)
        raise MacroError(f"query uses ${name}, which is neither a Grafana macro nor a variable")

    return _REFERENCE.sub(replace, query)
