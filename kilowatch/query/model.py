"""The query object: what to ask of kilowatch's InfluxDB schema, independent of the dialect.

`Query` is an immutable builder (each method returns a new query). `plan()` resolves it, with
the plant's time zone, into a `Plan`: plain data that the InfluxQL, Flux and SQL renderers and
the result shaping all read, so the three dialects answer the same question.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from kilowatch.query.flux import render_flux
from kilowatch.query.influxql import render_influxql
from kilowatch.query.plan import (
    DIALECTS,
    KINDS,
    Aggregate,
    BillField,
    Bucket,
    Dialect,
    EnergyField,
    GroupTag,
    Kind,
    Plan,
    QueryError,
    Rendered,
    parse_bucket,
)
from kilowatch.query.schema import (
    BILLING,
    BILLING_PERIOD_TAG,
    ENERGY,
    GROUP_TAGS,
    INTERVAL_FIELD,
    SCOPE_METER,
    SCOPE_PLANT,
    SCOPE_TAG,
    SUMMABLE_FIELDS,
)
from kilowatch.query.sql import render_sql

__all__ = ["DIALECTS", "KINDS", "Bucket", "Dialect", "Plan", "Query", "QueryError", "Rendered"]


@dataclass(frozen=True, slots=True)
class Query:
    """A question about kilowatch's stored readings; build it, then render or run it.

    >>> q = Query.energy(plant="hmo").between("2026-10-01", "2026-11-01").by("line").every("1d")
    >>> q = q.sum("cost")
    """

    kind: Kind
    plants: tuple[str, ...] = ()
    start: str | datetime | None = None
    end: str | datetime | None = None
    group: GroupTag | None = None
    every_: str | None = None
    measure: str = "energy_kwh"
    window: str = "15m"
    n: int = 10
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    timezone: str | None = None
    config: str | Path | None = field(default=None, compare=False)

    # --- starting points -------------------------------------------------------------------

    @classmethod
    def _new(cls, kind: Kind, plant: str | Sequence[str] | None, **extra: object) -> Query:
        plants = (plant,) if isinstance(plant, str) else tuple(plant or ())
        return replace(cls(kind=kind, plants=plants), **extra)  # type: ignore[arg-type]

    @classmethod
    def energy(cls, plant: str | Sequence[str] | None = None) -> Query:
        """Energy (kWh) or, with .sum('cost'), cost: sums per bucket and group."""
        return cls._new("energy", plant)

    @classmethod
    def demand(cls, plant: str | Sequence[str] | None = None, window: str = "15m") -> Query:
        """Peak demand (kW): the largest `window` (15 min) average power of each bucket."""
        return cls._new("demand", plant, window=window)

    @classmethod
    def base_load(cls, plant: str | Sequence[str] | None = None, window: str = "1h") -> Query:
        """Base load (kW): the smallest `window` (1 h) average power of each bucket."""
        return cls._new("base_load", plant, window=window)

    @classmethod
    def top(
        cls, plant: str | Sequence[str] | None = None, n: int = 10, by: GroupTag = "meter"
    ) -> Query:
        """The n largest consumers (meters by default) over the range, largest first."""
        if n < 1:
            raise QueryError(f"n={n}: ask for the top 1 or more")
        return cls._new("top", plant, n=n).by(by)

    @classmethod
    def load_profile(cls, plant: str | Sequence[str] | None = None) -> Query:
        """Average power (kW) by local hour of day (0-23) over the range."""
        return cls._new("load_profile", plant)

    @classmethod
    def completeness(cls, plant: str | Sequence[str] | None = None) -> Query:
        """Share (0..1) of each bucket covered by stored readings, per meter by default."""
        return cls._new("completeness", plant, group="meter", every_="1d", measure=INTERVAL_FIELD)

    @classmethod
    def bill(cls, plant: str) -> Query:
        """The bill so far (the bridge's `billing` points): the last value per billing month."""
        return cls._new("bill", plant, measure="total")

    # --- refinements -----------------------------------------------------------------------

    def between(self, start: str | datetime, end: str | datetime) -> Query:
        """The range [start, end); dates and naive times are the plant's local time."""
        return replace(self, start=start, end=end)

    def by(self, tag: GroupTag | None) -> Query:
        """One column per value of this tag: plant, line, meter or period (TOU period)."""
        if tag is not None and tag not in GROUP_TAGS:
            raise QueryError(f"by={tag!r}: group by one of {', '.join(GROUP_TAGS)}")
        return replace(self, group=tag)

    def every(self, every: str | None) -> Query:
        """Bucket size: 15m, 1h, 1d (local days) or 1mo (local months); None: one bucket."""
        if every is not None:
            parse_bucket(every)
        return replace(self, every_=every)

    def sum(self, field: EnergyField = "energy_kwh") -> Query:
        """Sum this field of `energy` per bucket: energy_kwh or cost."""
        if field not in SUMMABLE_FIELDS:
            raise QueryError(f"sum({field!r}): sum one of {', '.join(SUMMABLE_FIELDS)}")
        if self.kind not in ("energy", "top"):
            raise QueryError(f"sum() applies to energy and top queries, not {self.kind}")
        return replace(self, measure=field)

    def value(self, field: BillField) -> Query:
        """Bill queries: which line of the bill to show (default total)."""
        if field not in get_args(BillField):
            raise QueryError(f"value({field!r}): choose one of {', '.join(get_args(BillField))}")
        return replace(self, measure=field)

    def where(self, **tags: str | Sequence[str]) -> Query:
        """Keep readings whose tags take these values: where(line='press', meter=[...])."""
        added = []
        for tag, values in tags.items():
            if tag not in GROUP_TAGS or tag == "plant":
                raise QueryError(f"where({tag}=...): filter on line, meter or period")
            chosen = (values,) if isinstance(values, str) else tuple(values)
            if not chosen:
                raise QueryError(f"where({tag}=...) needs at least one value")
            added.append((tag, chosen))
        return replace(self, filters=self.filters + tuple(added))

    def tz(self, timezone: str) -> Query:
        """Use this IANA time zone instead of the plant's."""
        return replace(self, timezone=timezone)

    def using(self, config: str | Path) -> Query:
        """Look the plant's time zone up in this plant file (default: KILOWATCH_CONFIG)."""
        return replace(self, config=config)

    # --- rendering -------------------------------------------------------------------------

    def render(self, dialect: Dialect, *, bucket: str = "kilowatch", bind: bool = True) -> Rendered:
        """The query as InfluxQL, Flux (reading `bucket`) or SQL; `bind=False`: InfluxQL with
        escaped literals instead of bound parameters."""
        plan = self.plan()
        if dialect == "influxql":
            return render_influxql(plan, bind=bind)
        if dialect == "flux":
            return render_flux(plan, bucket)
        if dialect == "sql":
            return render_sql(plan)
        raise QueryError(f"dialect {dialect!r}: choose influxql, flux or sql")

    # --- resolution ------------------------------------------------------------------------

    def resolve_timezone(self) -> str:
        """The query's zone: given, or the plants' from the plant file (they must share it)."""
        return self._resolve()[0]

    def _resolve(self) -> tuple[str, str]:
        """(zone, currency of `cost`): the zone given or the plants' zone, and their tariffs'
        currency when the plant file is at hand ('currency' when it is not, or they differ)."""
        path = self.config or os.environ.get("KILOWATCH_CONFIG")
        if self.timezone is None and not self.plants:
            raise QueryError("name a plant, or give the time zone (--tz, .tz('America/...'))")
        if self.timezone is None and path is None:
            raise QueryError(
                "the plant's time zone comes from the plant file: give the file (--config, "
                ".using(FILE) or KILOWATCH_CONFIG) or the zone (--tz, .tz('America/...'))"
            )
        zones, currencies = self._plant_file_facts(path) if path and self.plants else (set(), set())
        if self.timezone is not None:
            name = self.timezone
        elif len(zones) > 1:
            raise QueryError(
                f"plants {', '.join(self.plants)} are in different time zones "
                f"({', '.join(sorted(zones))}): give one with --tz or .tz(...)"
            )
        else:
            name = zones.pop()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise QueryError(
                f"{name!r} is not an IANA time zone such as America/Mexico_City"
            ) from None
        return name, currencies.pop() if len(currencies) == 1 else "currency"

    def _plant_file_facts(self, path: str | Path) -> tuple[set[str], set[str]]:
        """The zones and tariff currencies of the query's plants in the plant file."""
        from kilowatch.config import load_config
        from kilowatch.tariff import TariffError, load_tariff

        plants = load_config(path).plant_by_id
        zones, currencies = set(), set()
        for plant in self.plants:
            if plant not in plants:
                raise QueryError(f"plant {plant!r} is not in the plant file {path}")
            zones.add(plants[plant].timezone)
            try:
                currencies.add(load_tariff(plants[plant].tariff).currency)
            except TariffError:
                currencies.add("currency")  # the unit only: a broken tariff is not our question
        return zones, currencies

    def plan(self) -> Plan:
        """Resolve the query (zone, range, defaults) into the plain data renderers read."""
        zone_name, currency = self._resolve()
        zone = ZoneInfo(zone_name)
        if self.start is None or self.end is None:
            raise QueryError("give the range with .between(start, end)")
        start, end = _instant(self.start, zone), _instant(self.end, zone)
        if end <= start:
            raise QueryError(f"the range ends ({end}) before it starts ({start})")
        filters: list[tuple[str, tuple[str, ...]]] = []
        if self.plants:
            filters.append(("plant", self.plants))
        filters += self.filters
        bucket = parse_bucket(self.every_) if self.every_ else None
        if self.kind == "bill":
            return self._bill_plan(start, end, zone_name, currency, filters)
        window_s: int | None = None
        aggregate: Aggregate = "sum"
        field_name, unit, value_name = self.measure, "kWh", self.measure
        if self.measure == "cost":
            unit = currency
        if self.kind in ("demand", "base_load"):
            window = parse_bucket(self.window, "window")
            if window.unit != "fixed":
                raise QueryError(f"window={self.window!r}: use a window shorter than a day")
            window_s = window.seconds
            aggregate = "max" if self.kind == "demand" else "min"
            field_name, unit, value_name = "energy_kwh", "kW", f"{self.kind}_kw"
            if bucket is not None and bucket.unit == "fixed" and bucket.seconds % window_s:
                raise QueryError(f"every={self.every_!r} must be a multiple of {self.window}")
        elif self.kind == "load_profile":
            bucket = Bucket("fixed", 3600)
            field_name, unit, value_name = "energy_kwh", "kW", "power_kw"
        elif self.kind == "completeness":
            if self.group != "meter":  # a line's share would need its meters without readings
                raise QueryError(
                    "completeness is per meter: keep by='meter' and choose meters with "
                    "--where line=... (.where(line=...)) or --where meter=..."
                )
            field_name, unit, value_name = "interval_s", "fraction", "completeness"
        elif self.kind == "top":
            bucket = None
            if self.group is None:
                raise QueryError("top() needs a tag to rank: by='meter', 'line', 'period'...")
        for size_s in (bucket.seconds if bucket and bucket.unit == "fixed" else None, window_s):
            if size_s is not None:
                _check_aligned(zone_name, start, end, size_s)
        return Plan(
            measurement=ENERGY,
            field=field_name,
            aggregate=aggregate,
            start=start,
            end=end,
            filters=tuple(filters),
            bucket=bucket,
            window_s=window_s,
            limit=self.n if self.kind == "top" else None,
            unit=unit,
            value_name=value_name,
            kind=self.kind,
            timezone=zone_name,
            group=self.group,
        )

    def _bill_plan(
        self,
        start: pd.Timestamp,
        end: pd.Timestamp,
        zone_name: str,
        currency: str,
        filters: list[tuple[str, tuple[str, ...]]],
    ) -> Plan:
        zone = ZoneInfo(zone_name)
        if len(self.plants) != 1:
            raise QueryError("bill() is for one plant")
        if self.group not in (None, "meter"):
            raise QueryError("bill() can be split by meter only")
        local_start = start.tz_convert(zone)
        local_end = end.tz_convert(zone)
        months = pd.period_range(
            local_start.tz_localize(None).to_period("M"),
            (local_end - pd.Timedelta(seconds=1)).tz_localize(None).to_period("M"),
            freq="M",
        )
        scope = SCOPE_METER if self.group == "meter" else SCOPE_PLANT
        filters = [*filters, (SCOPE_TAG, (scope,)), (BILLING_PERIOD_TAG, tuple(map(str, months)))]
        first_month = pd.Timestamp(months[0].start_time).tz_localize(zone).tz_convert("UTC")
        return Plan(
            measurement=BILLING,
            field=self.measure,
            aggregate="last",
            start=first_month,  # billing points are written during and after their month
            end=None,
            filters=tuple(filters),
            bucket=None,
            billing_periods=tuple(map(str, months)),
            unit=_bill_unit(self.measure, currency),
            value_name=self.measure,
            kind=self.kind,
            timezone=zone_name,
            group=self.group,
        )


def _check_aligned(zone_name: str, start: pd.Timestamp, end: pd.Timestamp, size_s: int) -> None:
    """Fixed buckets are aligned to UTC (SQL) or to local time (InfluxQL, Flux): the same only
    when every UTC offset of the zone in the range is a whole number of buckets."""
    days = pd.date_range(start, end, freq="D").union([end]).tz_convert(zone_name)
    offsets = {int(stamp.utcoffset().total_seconds()) for stamp in days}
    odd = sorted(offset for offset in offsets if offset % size_s)
    if odd:
        hours, minutes = divmod(abs(odd[0]) // 60, 60)
        sign = "-" if odd[0] < 0 else "+"
        raise QueryError(
            f"{size_s // 60}-minute buckets do not line up with local time in {zone_name} "
            f"(UTC{sign}{hours:02d}:{minutes:02d}): use buckets that divide the offset, or 1d"
        )


def _bill_unit(measure: str, currency: str) -> str:
    """The unit of a line of the bill."""
    if measure == "energy_kwh":
        return "kWh"
    return "kW" if measure.endswith("_kw") else currency


def _instant(value: str | datetime, zone: ZoneInfo) -> pd.Timestamp:
    """A range bound as a UTC instant; dates and naive times are local wall-clock time."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise QueryError(
            f"{value!r} is not a date or time: use 2026-10-01 or 2026-10-01T06:30"
        ) from None
    if stamp.tzinfo is None:
        # A wall-clock time that does not exist (spring forward) moves forward to one that does.
        stamp = stamp.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
    return stamp.tz_convert("UTC")
