"""A question resolved to plain data (`Plan`), what renderers return (`Rendered`), and the
vocabulary both share: kinds, dialects, bucket sizes, the end-stamp shift."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import pandas as pd

Kind = Literal["energy", "demand", "base_load", "top", "load_profile", "completeness", "bill"]
GroupTag = Literal["plant", "line", "meter", "period"]
EnergyField = Literal["energy_kwh", "cost"]
Aggregate = Literal["sum", "max", "min", "last"]
BillField = Literal[
    "total",
    "energy_kwh",
    "energy_cost",
    "demand_peak_kw",
    "demand_charge",
    "fixed_charge",
    "surcharges",
    "tax",
]
Dialect = Literal["influxql", "flux", "sql"]
DIALECTS: tuple[Dialect, ...] = get_args(Dialect)
KINDS: tuple[Kind, ...] = get_args(Kind)

DAY_S = 86_400
# A reading is stamped at the END of its interval: the reading stamped 00:00 is yesterday's
# last 5 minutes. Buckets therefore hold the readings stamped in (start, end], done by binning
# `time - 1 s` (every interval is a whole number of seconds, so nothing else moves).
END_STAMP_SHIFT_S = 1
_DURATION = re.compile(r"^(\d+)(s|m|h|d|mo)$")


class QueryError(ValueError):
    """A query that cannot be answered as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A query as one dialect's text, with the values it binds (`$name` in the text)."""

    dialect: Dialect
    text: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bucket:
    """How results are binned: fixed seconds (on local hours and quarters), or local calendar
    days or months (starting at the plant's local midnight, across DST)."""

    unit: Literal["fixed", "day", "month"]
    seconds: int = 0  # fixed buckets only

    @property
    def text(self) -> str:
        """The duration as InfluxQL and Flux write it: 900s, 1d, 1mo."""
        return {"day": "1d", "month": "1mo"}.get(self.unit, f"{self.seconds}s")


def parse_bucket(every: str, name: str = "every") -> Bucket:
    """'15m', '1h', '1d', '1mo' -> Bucket; fixed sizes must divide a day (so days align).
    `name` is the setting's name in the error (every, window)."""
    match = _DURATION.match(every.strip().lower())
    if match is None:
        raise QueryError(
            f"{name}={every!r} is not a duration: use a number and s, m, h, d or mo "
            "(15m, 1h, 1d, 1mo)"
        )
    number, unit = int(match.group(1)), match.group(2)
    if unit == "mo":
        if number != 1:
            raise QueryError(f"{name}={every!r}: only 1mo (calendar months) is supported")
        return Bucket("month")
    seconds = number * {"s": 1, "m": 60, "h": 3600, "d": DAY_S}[unit]
    if seconds == DAY_S:
        return Bucket("day")
    if seconds <= 0 or seconds > DAY_S or DAY_S % seconds:
        raise QueryError(
            f"{name}={every!r}: use a size that divides a day (5m, 15m, 1h, 6h...), 1d or 1mo"
        )
    return Bucket("fixed", seconds)


@dataclass(frozen=True, slots=True)
class Plan:
    """A query resolved to plain data: what every renderer and the shaping read."""

    kind: Kind
    measurement: str
    field: str
    aggregate: Aggregate  # the aggregate of each bucket (of window sums when `window_s`)
    timezone: str
    start: pd.Timestamp | None  # UTC; readings stamped in (start, end]
    end: pd.Timestamp | None
    filters: tuple[tuple[str, tuple[str, ...]], ...]  # tag -> accepted values (OR), ANDed
    group: str | None
    bucket: Bucket | None
    window_s: int | None = None  # demand and base load: sums over windows of this length
    limit: int | None = None  # top: keep the n largest
    billing_periods: tuple[str, ...] = ()  # bill: YYYY-MM of each month in the range
    unit: str = ""
    value_name: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def utc_text(stamp: pd.Timestamp, shift_s: int = 0) -> str:
    """RFC 3339 UTC text of an instant (plus shift_s seconds): 2026-10-01T07:00:00Z."""
    moved = stamp + timedelta(seconds=shift_s)
    return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
