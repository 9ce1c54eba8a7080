"""The data lake's costed-reading record, defined once: its JSON, Glue and Parquet forms.

`LakeRecord` is the one definition. The Glue table (cdk/kilowatch_cdk/datalake), the Parquet
files (`arrow_schema`, `arrow_table`) and the JSON the Lambda sends to Firehose all derive from
its fields: a field's Python type gives its column type (str -> string, int -> bigint,
float -> double) unless its metadata names another (`int` or `timestamp`). `plant` and `dt`
are the partition keys: in the JSON (Firehose's dynamic partitioning reads them) but not
columns of the Parquet files (the S3 prefix `plant=.../dt=...` holds them).

A record is one `energy` point of docs/influxdb-schema.md (same tags, same fields), plus
`currency`, `time`, `costed_at` and its partition.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast, get_args
from zoneinfo import ZoneInfo

import msgspec
import msgspec.inspect
import numpy as np

from kilowatch.tariff.zones import offsets

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]

    from kilowatch.processing import CostedReadings, Processed
    from kilowatch.tariff import PlantTariff

LakeType = Literal["string", "bigint", "int", "double", "timestamp"]
SECONDS_PER_DAY = 86_400
MS_PER_S = 1000
DATE_FORMAT = "%Y-%m-%d"  # the `dt` partition value (Athena's projection format yyyy-MM-dd)
PARTITION_KEYS = ("plant", "dt")
TABLE_NAME = "readings"  # the Glue table; the views' SQL names it too


def _column(description: str, lake_type: LakeType | None = None) -> msgspec.Meta:
    """A field's description, and its column type when the Python type does not say it."""
    return msgspec.Meta(
        description=description, extra={"lake_type": lake_type} if lake_type else None
    )


class LakeRecord(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One costed reading as the lake stores it (a row of the `readings` table).

    Absent optional measurements are left out of the JSON; the table holds NULL there.
    """

    plant: Annotated[str, _column("plant id")]
    dt: Annotated[
        str,
        _column("the plant's local date (YYYY-MM-DD) of the interval's last second"),
    ]
    ts: Annotated[int, _column("end of the interval, Unix seconds (UTC); with meter, its key")]
    time: Annotated[int, _column("end of the interval (UTC), as a timestamp", "timestamp")]
    line: Annotated[str, _column("line id from the plant file ('unassigned' if undeclared)")]
    meter: Annotated[str, _column("meter id")]
    period: Annotated[str, _column("tariff period holding most of the interval")]
    tariff: Annotated[str, _column("id@version of the tariff that costed it")]
    currency: Annotated[str, _column("ISO 4217 currency of cost and rate")]
    energy_kwh: Annotated[float, _column("energy imported during the interval, kWh")]
    cost: Annotated[float, _column("cost of that energy, taxes included, in currency")]
    rate: Annotated[float, _column("effective price per kWh, taxes included")]
    interval_s: Annotated[int, _column("interval length, seconds", "int")]
    costed_at: Annotated[
        int, _column("when kilowatch costed it (UTC); the newest wins a repeat", "timestamp")
    ]
    seq: Annotated[int | None, _column("the sender's sequence number")] = None
    energy_total_kwh: Annotated[float | None, _column("meter register, kWh")] = None
    power_kw: Annotated[float | None, _column("power at ts, kW")] = None
    reactive_kvarh: Annotated[float | None, _column("reactive energy, kvarh")] = None
    power_factor: Annotated[float | None, _column("power factor, -1..1")] = None
    voltage_l1: Annotated[float | None, _column("phase 1 voltage, V")] = None
    voltage_l2: Annotated[float | None, _column("phase 2 voltage, V")] = None
    voltage_l3: Annotated[float | None, _column("phase 3 voltage, V")] = None
    current_l1: Annotated[float | None, _column("phase 1 current, A")] = None
    current_l2: Annotated[float | None, _column("phase 2 current, A")] = None
    current_l3: Annotated[float | None, _column("phase 3 current, A")] = None


@dataclass(frozen=True, slots=True)
class Column:
    """A field of `LakeRecord` as a table column."""

    name: str
    type: LakeType
    description: str
    required: bool

    @property
    def glue_type(self) -> str:
        """The column's Hive/Glue type (what Athena and Firehose's converter read)."""
        return self.type

    def arrow_type(self) -> pa.DataType:
        """The column's Parquet type, as pyarrow writes it (pyarrow is imported when called)."""
        import pyarrow as pa

        return {
            "string": pa.string(),
            "bigint": pa.int64(),
            "int": pa.int32(),
            "double": pa.float64(),
            "timestamp": pa.timestamp("ms"),
        }[self.type]


def _columns() -> tuple[Column, ...]:
    """Every field of LakeRecord as a Column, in field order."""
    by_python_type: dict[type[msgspec.inspect.Type], LakeType] = {
        msgspec.inspect.StrType: "string",
        msgspec.inspect.IntType: "bigint",
        msgspec.inspect.FloatType: "double",
    }
    found = []
    info = msgspec.inspect.type_info(LakeRecord)
    assert isinstance(info, msgspec.inspect.StructType)
    for item in info.fields:
        meta = item.type
        assert isinstance(meta, msgspec.inspect.Metadata), f"{item.name} has no description"
        inner = meta.type
        if isinstance(inner, msgspec.inspect.UnionType):  # Optional: the non-None member
            inner = next(t for t in inner.types if not isinstance(t, msgspec.inspect.NoneType))
        named = (meta.extra or {}).get("lake_type")
        assert named is None or named in get_args(LakeType), f"{item.name}: {named!r}"
        kind = cast(LakeType, named) if named else by_python_type[type(inner)]
        description = str((meta.extra_json_schema or {}).get("description", ""))
        found.append(Column(item.name, kind, description, item.required))
    return tuple(found)


FIELDS: tuple[Column, ...] = _columns()  # every field, partition keys included
COLUMNS: tuple[Column, ...] = tuple(c for c in FIELDS if c.name not in PARTITION_KEYS)
PARTITIONS: tuple[Column, ...] = tuple(c for c in FIELDS if c.name in PARTITION_KEYS)


def glue_columns(columns: Sequence[Column] = COLUMNS) -> list[dict[str, str]]:
    """Columns as Glue's StorageDescriptor lists them: name, type, comment."""
    return [{"name": c.name, "type": c.glue_type, "comment": c.description} for c in columns]


def arrow_schema(*, with_partitions: bool = False) -> pa.Schema:
    """The Parquet files' schema (partition keys only when asked: they live in the path)."""
    import pyarrow as pa

    columns = FIELDS if with_partitions else COLUMNS
    return pa.schema([pa.field(c.name, c.arrow_type(), nullable=not c.required) for c in columns])


def arrow_table(records: Sequence[LakeRecord]) -> pa.Table:
    """Records as a pyarrow table of the Parquet schema, partition keys included (write it
    with `partition_cols=PARTITION_KEYS` to lay files out as Firehose does)."""
    import pyarrow as pa

    schema = arrow_schema(with_partitions=True)
    data = {
        c.name: pa.array([getattr(r, c.name) for r in records], type=schema.field(c.name).type)
        for c in FIELDS
    }
    return pa.table(data, schema=schema)


def partition_dates(ts: np.ndarray, zone: ZoneInfo) -> list[str]:
    """The `dt` of intervals ending at `ts` (Unix s): the local date of each one's last second.

    An interval ending at local midnight belongs to the day that midnight closes, so a day's
    partition holds exactly the intervals inside it (23 or 25 hours of them on clock-change
    days).
    """
    if not len(ts):
        return []
    last = np.asarray(ts, dtype=np.int64) - 1
    lo, hi = int(last.min()), int(last.max())
    froms, offs = offsets(zone, lo, hi + 1)
    local = last + offs[np.searchsorted(froms, last, side="right") - 1]
    days = local // SECONDS_PER_DAY
    texts = {day: _day_text(day) for day in np.unique(days).tolist()}
    return [texts[day] for day in days.tolist()]


def _day_text(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).strftime(DATE_FORMAT)


def lake_records(
    costed: CostedReadings, costing: PlantTariff, costed_at_ms: int
) -> list[LakeRecord]:
    """One plant's costed readings (from kilowatch.processing) as lake records.

    `costing` is that plant's tariff in its time zone (`Processor.tariffs[plant]`): it gives
    the local dates and the currency. `costed_at_ms` (Unix ms) orders repeats of a reading:
    the views keep the newest, as InfluxDB keeps the last write.
    """
    columns = costed.columns
    if not len(columns):
        return []
    dates = partition_dates(columns.ts, costing.zone)
    line_of_row = [
        line
        for (_, start, stop), line in zip(columns.runs, costed.lines, strict=True)
        for _ in range(start, stop)
    ]
    plant, tariff, currency = costed.plant, costed.tariff, costing.tariff.currency
    rows = zip(
        costed.readings,
        dates,
        line_of_row,
        costed.period,
        costed.cost.tolist(),
        costed.rate.tolist(),
        strict=True,
    )
    return [
        LakeRecord(
            plant=plant,
            dt=day,
            ts=r.ts,
            time=r.ts * MS_PER_S,
            line=line,
            meter=r.meter,
            period=period,
            tariff=tariff,
            currency=currency,
            energy_kwh=r.energy_kwh,
            cost=cost,
            rate=rate,
            interval_s=r.interval_s,
            costed_at=costed_at_ms,
            seq=r.seq,
            energy_total_kwh=r.energy_total_kwh,
            power_kw=r.power_kw,
            reactive_kvarh=r.reactive_kvarh,
            power_factor=r.power_factor,
            **_phases(r.voltage_v, "voltage_l"),
            **_phases(r.current_a, "current_l"),
        )
        for r, day, line, period, cost, rate in rows
    ]


def batch_records(
    processed: Processed,
    tariffs: Mapping[str, PlantTariff],
    costed_at_ms: int,
    refused: Container[tuple[str, str, int]] = frozenset(),
) -> list[LakeRecord]:
    """Every costed reading of a processed batch as lake records (`tariffs`:
    `Processor.tariffs`, by plant), but those InfluxDB refused, by (plant, meter, ts), so that
    the lake holds what InfluxDB holds."""
    records = [
        record
        for plant, costed in processed.costed.items()
        for record in lake_records(costed, tariffs[plant], costed_at_ms)
    ]
    if refused:
        records = [r for r in records if (r.plant, r.meter, r.ts) not in refused]
    return records


def _phases(values: tuple[float, ...], name: str) -> dict[str, Any]:
    """Per-phase values as fields name1..name3 (none when not measured)."""
    return {f"{name}{k}": v for k, v in enumerate(values, 1)} if values else {}


def columns_markdown() -> str:
    """The record's fields as a Markdown table (the lake's README carries it; a test keeps
    the two equal)."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for c in FIELDS:
        kind = f"{c.type}, partition key" if c.name in PARTITION_KEYS else c.type
        lines.append(
            f"| `{c.name}` | {kind}{'' if c.required else ', may be NULL'} | {c.description} |"
        )
    return "\n".join(lines)
