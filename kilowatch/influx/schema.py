"""Every InfluxDB measurement, tag and field kilowatch writes, and the one function that lays
out each kind of line (see docs/influxdb-schema.md).

Lines are text of line protocol (kilowatch.influx.lineprotocol); tags are written sorted by key.
Code that needs a point's identity keeps it as data (kilowatch.processing), never parses it back
out of a line.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from kilowatch.contract import MAX_PHASES, AgentStatus, Reading, Rejection
from kilowatch.influx.lineprotocol import (
    NS_PER_S,
    escape_tag,
    format_field,
    format_point,
    number_texts,
)

if TYPE_CHECKING:
    import pandas as pd

    from kilowatch.billing.demand import BudgetProjection, DemandProjection
    from kilowatch.billing.running import BillingPoint
    from kilowatch.processing import CostedReadings, Message, PlantInfo, Processed
    from kilowatch.tariff import CostBatch

# Measurements
ENERGY = "energy"  # one point per accepted reading, costed
REJECTED = "rejected"  # one point per message or reading set aside
AGENT_STATUS = "agent_status"  # one point per edge agent health report
PLANT_INFO = "plant_info"  # per plant, every billing_interval: the rate now and next
BRIDGE_HEALTH = "kilowatch_bridge"  # the bridge's counters, every health_interval
BILLING = "billing"  # each plant's and meter's bill so far, every billing_interval
PRODUCTION = "production"  # units produced, per row of a client's production file
ENERGY_INTENSITY = "energy_intensity"  # kWh and cost per unit, per line and local day
BILL_RECONCILIATION = "bill_reconciliation"  # the utility's bill against kilowatch's, per component
UTILITY_ENERGY = "utility_energy"  # the utility meter's intervals (Green Button), costed

# energy: tags (sorted, the order in every line), then the fields in the order written
ENERGY_TAGS = ("line", "meter", "period", "plant", "tariff")
ENERGY_FIELDS = ("energy_kwh", "cost", "rate", "interval_s")  # always, in this order
OPTIONAL_READING_FIELDS = ("seq", "energy_total_kwh", "power_kw", "reactive_kvarh", "power_factor")
INTEGER_READING_FIELDS = frozenset({"interval_s", "seq"})
PHASE_FIELDS = {"voltage_v": "voltage_l", "current_a": "current_l"}  # + 1..3: voltage_l1

# rejected
REJECTED_TAGS = ("meter", "plant", "reason")
REJECTED_FIELDS = ("count", "detail", "payload")
MAX_STORED_PAYLOAD_BYTES = 4096

# plant_info
PLANT_INFO_TAGS = ("currency", "plant", "tariff", "timezone")
PLANT_INFO_FIELDS = (
    "name",
    "tax_percent",
    "period_now",
    "rate_now",
    "next_change_ts",
    "next_period",
    "next_rate",
)

# agent_status
AGENT_STATUS_TAGS = ("agent", "plant")

# kilowatch_bridge
BRIDGE_HEALTH_TAGS = ("bridge",)

# billing
BILLING_TAGS = ("billing_period", "meter", "plant", "scope", "tariff")  # scope: plant or meter

OPTIONAL_CHUNK = 1024  # readings whose optional fields are formatted together
# A rate (price per kWh with tax, e.g. 1.6658 x 1.16) is stored to 12 significant digits: the
# tariff's price as written, not float noise (1.932328, not 1.9323279999999998). Only the text of
# `rate`, `rate_now` and `next_rate` changes; `cost`, the field that is summed, is unrounded.
RATE_DIGITS = 12
MAX_CACHED_SERIES = 100_000  # (plant, meter) line heads kept


class LineLayout:
    """Lays out processed batches as lines; keeps the heads of `energy` series and a counter
    that gives each `rejected` point its own nanosecond."""

    def __init__(self) -> None:
        self._unique = itertools.count()
        self._series: dict[tuple[str, str, str, str], _SeriesHeads] = {}

    def batch_lines(self, processed: Processed, messages: Sequence[Message]) -> list[list[str]]:
        """Each message's lines: its `rejected` points, then its `agent_status` point or its
        `energy` points, one per accepted reading in order (the last lines of the message)."""
        out: list[list[str]] = [[] for _ in messages]
        for index in sorted(processed.set_aside.keys() | processed.statuses.keys()):
            rejections = processed.set_aside.get(index)
            if rejections:
                out[index] += self.rejected_lines(rejections, messages[index].received_at)
            status = processed.statuses.get(index)
            if status is not None:
                out[index].append(agent_status_line(status))
        for costed in processed.costed.values():
            for index, lines in zip(costed.messages, self.energy_lines(costed), strict=True):
                out[index] += lines
        return out

    def energy_lines(self, costed: CostedReadings) -> list[list[str]]:
        """The `energy` points of one plant's costed readings, a list per run (message)."""
        columns = costed.columns
        count = len(columns)
        readings = costed.readings
        # Numbers become text column by column (one C call each, not repr() per value); each
        # run then takes its rows from this one iterator. Optional fields go a chunk of
        # readings at a time, so that their columns stay in the CPU's cache.
        rows = zip(
            costed.period,
            number_texts(columns.energy_kwh.tolist()),
            number_texts(costed.cost.tolist()),
            number_texts(rate_values(costed.rate)),
            number_texts(columns.interval_s.tolist()),
            itertools.chain.from_iterable(
                _optional_fields(readings[start : start + OPTIONAL_CHUNK])
                for start in range(0, count, OPTIONAL_CHUNK)
            ),
            number_texts((columns.ts * NS_PER_S).tolist()),
            strict=True,
        )
        out = []
        for (meter, start, stop), line in zip(columns.runs, costed.lines, strict=True):
            heads = self._heads(costed.plant, meter, line, costed.tariff)
            out.append(
                [
                    f"{heads[period]}energy_kwh={kwh},cost={cost},rate={rate},"
                    f"interval_s={seconds}i{optional} {time_ns}"
                    for period, kwh, cost, rate, seconds, optional, time_ns in itertools.islice(
                        rows, stop - start
                    )
                ]
            )
        return out

    def _heads(self, plant: str, meter: str, line: str, tariff: str) -> _SeriesHeads:
        """The start of a meter's `energy` lines (measurement and tags), by tariff period."""
        key = (plant, meter, line, tariff)
        heads = self._series.get(key)
        if heads is None:
            if len(self._series) >= MAX_CACHED_SERIES:  # unknown meters may be accepted
                self._series.clear()
            heads = self._series[key] = _SeriesHeads(
                f"{ENERGY},line={line},meter={meter},period=",
                f",plant={plant},tariff={escape_tag(tariff)} ",
            )
        return heads

    def rejected_lines(self, rejections: Sequence[Rejection], received_at: float) -> list[str]:
        """`rejected` points, each at its own nanosecond so that none overwrites another."""
        base_ns = int(received_at * NS_PER_S)
        lines = []
        for rejection in rejections:
            payload = rejection.payload[:MAX_STORED_PAYLOAD_BYTES].decode(
                "utf-8", errors="backslashreplace"
            )
            lines.append(
                format_point(
                    REJECTED,
                    {
                        "plant": rejection.plant,
                        "meter": rejection.meter,
                        "reason": rejection.reason,
                    },
                    {"count": 1, "detail": rejection.detail, "payload": payload},
                    base_ns + next(self._unique) % 1_000_000,
                )
            )
        return lines


def agent_status_fields(status: AgentStatus) -> dict[str, float | int | str | bool]:
    """Fields of measurement agent_status; times that are unknown are left out."""
    out: dict[str, float | int | str | bool] = {
        "backlog_readings": status.backlog_readings,
        "backlog_age_s": status.backlog_age_s,
        "inflight_readings": status.inflight_readings,
        "poll_errors": status.poll_errors,
        "meters": status.meters,
        "meters_failing": len(status.failing_meters),
        "failing_meters": ",".join(status.failing_meters),
        "disk_used_bytes": status.disk_used_bytes,
        "storage_full": status.storage_full,
        "readings_dropped": status.readings_dropped,
        "polls_skipped": status.polls_skipped,
        "uptime_s": float(status.uptime_s),
        "version": status.version,
    }
    optional = {
        "oldest_pending_ts": status.oldest_pending_ts,
        "last_publish_ts": status.last_publish_ts,
        "last_poll_ts": status.last_poll_ts,
        "disk_cap_bytes": status.disk_cap_bytes,
        "awaiting_receipt_readings": status.awaiting_receipt_readings,
        "awaiting_receipt_s": status.awaiting_receipt_s,
        "readings_rejected": status.readings_rejected,
    }
    out.update({name: value for name, value in optional.items() if value is not None})
    if status.last_publish_ts is not None:
        out["last_publish_age_s"] = float(status.ts - status.last_publish_ts)
    return out


def agent_status_line(status: AgentStatus) -> str:
    """The `agent_status` point of one report, at the report's time."""
    tags = {"plant": status.plant, "agent": status.agent}
    return format_point(AGENT_STATUS, tags, agent_status_fields(status), status.ts * NS_PER_S)


def plant_info_line(info: PlantInfo, now: float) -> str:
    """The `plant_info` point of one plant: timezone, currency, the rate now and its next change."""
    fields: dict[str, float | int | str] = {
        "name": info.name,
        "tax_percent": info.tax_percent,
        "period_now": info.period_now,
        "rate_now": rate_values([info.rate_now])[0],
    }
    if info.next_change_ts is not None and info.next_period is not None:
        fields |= {
            "next_change_ts": info.next_change_ts,
            "next_period": info.next_period,
            "next_rate": rate_values([cast(float, info.next_rate)])[0],
        }
    tags = {
        "plant": info.plant,
        "timezone": info.timezone,
        "currency": info.currency,
        "tariff": info.tariff,
    }
    return format_point(PLANT_INFO, tags, fields, int(now) * NS_PER_S)


def bridge_health_line(bridge: str, fields: Mapping[str, float | int], now: float) -> str:
    """The `kilowatch_bridge` point of one reporting window."""
    return format_point(BRIDGE_HEALTH, {"bridge": bridge}, fields, int(now * NS_PER_S))


def billing_line(point: BillingPoint) -> str:
    """A `billing` point: a plant's or a meter's bill so far, at the time it was computed."""
    return format_point(BILLING, point.tags, point.fields, point.ts * NS_PER_S)


def stored_energy_lines(
    points: pd.DataFrame, costs: CostBatch, tariff: str, field_types: Mapping[str, str]
) -> list[str]:
    """Stored `energy` points (columns time, the tags and the fields, as read back) laid out
    again with new costs: tags period and tariff and fields cost and rate are replaced; every
    other tag and field is written back as read (integers stay integers, per `field_types`).
    The same text as the bridge writes for the same reading."""
    import numpy as np

    if points.empty:
        return []
    ts = points["time"].to_numpy(np.int64)
    heads = _stored_heads(points, costs.period, escape_tag(tariff))
    line = heads + "energy_kwh=" + _floats(points["energy_kwh"].to_numpy(np.float64))
    line = line + ",cost=" + _floats(costs.cost)
    line = line + ",rate=" + np.array(number_texts(rate_values(costs.rate)), dtype=object)
    # The bridge's first fields, then the others by name: one order whatever the columns' order.
    others = sorted(
        c
        for c in points.columns
        if c in field_types and c not in ENERGY_FIELDS and c not in ENERGY_TAGS
    )
    for name in ("interval_s", *others):
        values = points[name]
        present = values.notna().to_numpy()
        text = np.full(len(points), "", dtype=object)
        if present.any():
            text[present] = f",{escape_tag(name)}=" + _column(values[present], field_types[name])
        line = line + text
    line = line + " " + (ts * NS_PER_S).astype(str).astype(object)
    return cast(list[str], line.tolist())


def rate_values(values: Any) -> list[float]:
    """Rates (per kWh) to RATE_DIGITS significant digits: a price as the tariff writes it. Each
    is the double nearest a short decimal, so its shortest text is that decimal."""
    import numpy as np

    rates = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(rates)))
    scale = 10.0 ** (RATE_DIGITS - 1 - np.where(np.isfinite(exponent), exponent, 0.0))
    return cast(list[float], (np.round(rates * scale) / scale).tolist())


def _floats(values: Any) -> Any:
    """Floats as the bridge writes them (the shortest text that reads back the same)."""
    import numpy as np

    return np.array(number_texts(values.tolist()), dtype=object)


def _column(values: pd.Series, kind: str) -> Any:
    """A field column in its stored type (JSON gives 3 for the float 3.0)."""
    import numpy as np

    if kind == "integer":
        return values.astype(np.int64).astype(str).to_numpy(dtype=object) + "i"
    if kind == "float":
        return _floats(values.astype(np.float64).to_numpy())
    return np.array([format_field(v) for v in values.tolist()], dtype=object)


def _stored_heads(points: pd.DataFrame, periods: Any, tariff_tag: str) -> Any:
    """'energy,line=..,meter=..,period=..,plant=..,tariff=.. ' for each point (tags sorted)."""
    import numpy as np
    import pandas as pd

    line = (
        points["line"].astype(object).fillna("")
        if "line" in points
        else pd.Series("", index=points.index)
    )
    code = np.zeros(len(points), dtype=np.int64)
    names = []
    for column in (line, points["meter"], pd.Series(periods), points["plant"]):
        codes, uniques = pd.factorize(column.astype(str).to_numpy())
        code = code * len(uniques) + codes
        names.append(uniques)
    combos, inverse = np.unique(code, return_inverse=True)
    made = []
    for combo in combos.tolist():
        parts = []
        for uniques in reversed(names):
            parts.append(str(uniques[combo % len(uniques)]))
            combo //= len(uniques)
        plant, period, meter, lin = parts
        made.append(
            f"{ENERGY}{f',line={escape_tag(lin)}' if lin else ''},meter={escape_tag(meter)},"
            f"period={escape_tag(period)},plant={escape_tag(plant)},tariff={tariff_tag} "
        )
    return np.array(made, dtype=object)[inverse]


class _SeriesHeads(dict[str, str]):
    """A meter's line heads by tariff period, each formatted the first time it is needed."""

    def __init__(self, before: str, after: str) -> None:
        super().__init__()
        self._before, self._after = before, after  # the text around the period tag's value

    def __missing__(self, period: str) -> str:
        head = self[period] = f"{self._before}{escape_tag(period)}{self._after}"
        return head


def _optional_fields(readings: list[Reading]) -> Iterable[str]:
    """Each reading's optional measurements as `,name=value` text, built column by column."""
    columns = [
        texts
        for name, suffix, getter in _OPTIONAL_NUMBERS
        if (texts := _field_texts(name, suffix, list(map(getter, readings))))
    ]
    for getter, field_name in _OPTIONAL_PHASES:
        phases = list(map(getter, readings))
        if any(phases):
            for k in range(MAX_PHASES):
                values = [p[k] if len(p) > k else None for p in phases]
                if texts := _field_texts(f"{field_name}{k + 1}", "", values):
                    columns.append(texts)
    if not columns:
        return itertools.repeat("", len(readings))
    if len(columns) == 1:
        return columns[0]
    return map("".join, zip(*columns, strict=True))


_OPTIONAL_NUMBERS = [  # (field, suffix, how to get it); seq is an integer field
    (name, "i" if name in INTEGER_READING_FIELDS else "", operator.attrgetter(name))
    for name in OPTIONAL_READING_FIELDS
]
_OPTIONAL_PHASES = [
    (operator.attrgetter(attribute), field_name) for attribute, field_name in PHASE_FIELDS.items()
]


def _field_texts(name: str, suffix: str, values: Sequence[float | int | None]) -> list[str]:
    """`,name=value` for each reading that has the field, "" for each that has not; [] if none."""
    missing = values.count(None)
    if missing == len(values):
        return []
    prefix = f",{name}="
    if not missing:
        numbers = cast(Sequence[float | int], values)  # no None among them
        return [f"{prefix}{text}{suffix}" for text in number_texts(numbers)]
    texts = iter(number_texts([v for v in values if v is not None]))
    return ["" if v is None else f"{prefix}{next(texts)}{suffix}" for v in values]


# --- Client data loaded by `kilowatch etl` (kilowatch/etl; docs/etl.md) ---------------------

PRODUCTION_TAGS = ("line", "plant", "product", "shift")  # shift: only when the file has one
PRODUCTION_FIELDS = ("units",)
ENERGY_INTENSITY_TAGS = ("line", "plant")
ENERGY_INTENSITY_FIELDS = ("units", "energy_kwh", "cost", "kwh_per_unit", "cost_per_unit")
BILL_RECONCILIATION_TAGS = ("billing_period", "component", "plant")
BILL_RECONCILIATION_FIELDS = (
    "utility",
    "kilowatch",
    "difference",
    "difference_percent",
    "flagged",
    "threshold_percent",
)
UTILITY_ENERGY_TAGS = ("meter", "period", "plant", "tariff")
UTILITY_ENERGY_FIELDS = ("energy_kwh", "cost", "rate", "interval_s")
_NAN = float("nan")


def production_lines(
    plant: str,
    line: Sequence[str],
    product: Sequence[str],
    shift: Sequence[str],
    units: Sequence[float],
    time_ns: Sequence[int],
) -> list[str]:
    """`production` points, one per row; the same row always gives the same line (idempotent).

    units: Python floats, time_ns: Python ints (e.g. a NumPy column's .tolist()).
    """
    plant_tag = escape_tag(plant)
    heads: dict[tuple[str, str, str], str] = {}

    def head(key: tuple[str, str, str]) -> str:
        found = heads.get(key)
        if found is None:
            shift_tag = f",shift={escape_tag(key[2])}" if key[2] else ""
            found = heads[key] = (
                f"{PRODUCTION},line={escape_tag(key[0])},plant={plant_tag},"
                f"product={escape_tag(key[1])}{shift_tag} units="
            )
        return found

    return [
        f"{head(key)}{value} {ns}"
        for key, value, ns in zip(
            zip(line, product, shift, strict=True),
            number_texts(list(units)),
            number_texts(list(time_ns)),
            strict=True,
        )
    ]


def intensity_lines(
    plant: str, rows: Iterable[Mapping[str, object]], time_ns: Sequence[int]
) -> list[str]:
    """`energy_intensity` points: one per line and day; fields that are unknown (NaN) are left
    out, and a row with none is skipped."""
    lines = []
    for row, ns in zip(rows, time_ns, strict=True):
        fields: dict[str, float | int | str | bool] = {}
        for name in ENERGY_INTENSITY_FIELDS:
            value = float(cast(float, row.get(name, _NAN)))
            if value == value:  # NaN: unknown (no stored energy, no units), left out
                fields[name] = value
        if fields:
            tags = {"plant": plant, "line": str(row["line"])}
            lines.append(format_point(ENERGY_INTENSITY, tags, fields, int(ns)))
    return lines


def reconciliation_lines(
    plant: str, rows: Iterable[Mapping[str, object]], time_ns: Sequence[int]
) -> list[str]:
    """`bill_reconciliation` points: one per billing period and component, at the period's
    start; `flagged` is a boolean field."""
    lines = []
    for row, ns in zip(rows, time_ns, strict=True):
        fields: dict[str, float | int | str | bool] = {
            "utility": float(cast(float, row["utility"])),
            "kilowatch": float(cast(float, row["kilowatch"])),
            "difference": float(cast(float, row["difference"])),
            "flagged": bool(row["flagged"]),
            "threshold_percent": float(cast(float, row["threshold_percent"])),
        }
        percent = float(cast(float, row["difference_percent"]))
        if percent == percent:  # NaN where the utility's amount is 0
            fields["difference_percent"] = percent
        tags = {
            "plant": plant,
            "billing_period": str(row["billing_period"]),
            "component": str(row["component"]),
        }
        lines.append(format_point(BILL_RECONCILIATION, tags, fields, int(ns)))
    return lines


def utility_energy_lines(
    plant: str,
    meter: str,
    tariff: str,
    period: Sequence[str],
    ts: Sequence[int],
    interval_s: Sequence[int],
    energy_kwh: Sequence[float],
    cost: Sequence[float],
    rate: Sequence[float],
) -> list[str]:
    """`utility_energy` points: the utility meter's intervals costed like `energy` readings
    (timestamp: the interval's end, seconds)."""
    before = f"{UTILITY_ENERGY},meter={escape_tag(meter)},period="
    after = f",plant={escape_tag(plant)},tariff={escape_tag(tariff)} "
    return [
        f"{before}{escape_tag(p)}{after}energy_kwh={kwh},cost={c},rate={r},interval_s={s}i {t}"
        for p, kwh, c, r, s, t in zip(
            period,
            number_texts([float(v) for v in energy_kwh]),
            number_texts([float(v) for v in cost]),
            number_texts([float(v) for v in rate]),
            number_texts([int(v) for v in interval_s]),
            number_texts([int(v) * NS_PER_S for v in ts]),
            strict=True,
        )
    ]


# demand_watch and budget_watch: the open demand window projected, and the bill against the
# budget, by kilowatch.billing.demand after each stored batch (docs/influxdb-schema.md)
DEMAND_WATCH = "demand_watch"
DEMAND_WATCH_TAGS = ("billing_period", "charge", "currency", "plant")
BUDGET_WATCH = "budget_watch"
BUDGET_WATCH_TAGS = ("billing_period", "currency", "plant")


def demand_watch_line(projection: DemandProjection) -> str:
    """A `demand_watch` point: one demand charge's open window, at the time it was projected."""
    p = projection
    fields: dict[str, float | int] = {
        "window_start_ts": p.window_start_ts,
        "window_end_ts": p.window_end_ts,
        "seconds_left": p.seconds_left,
        "energy_so_far_kwh": p.energy_so_far_kwh,
        "projected_kw": p.projected_kw,
        "peak_kw": p.peak_kw,
        "billed_kw": p.billed_kw,
        "threshold_kw": p.threshold_kw,
        "over_kw": p.over_kw,
        "demand_at_stake": p.demand_at_stake,
        "ratchet_at_stake": p.ratchet_at_stake,
        "money_at_stake": p.money_at_stake,
        "meters_measured": p.meters_measured,
        "meters_linear": p.meters_linear,
        "meters_stale": p.meters_stale,
    }
    if p.ratchet_kw is not None:
        fields["ratchet_kw"] = p.ratchet_kw
    if p.limit_kw is not None:
        fields["limit_kw"] = p.limit_kw
    tags = {
        "plant": p.plant,
        "charge": p.charge,
        "billing_period": p.billing_period,
        "currency": p.currency,
    }
    return format_point(DEMAND_WATCH, tags, fields, p.now * NS_PER_S)


def budget_watch_line(projection: BudgetProjection) -> str:
    """A `budget_watch` point: the bill so far and projected to the period's end."""
    p = projection
    fields: dict[str, float | int] = {
        "bill_so_far": p.bill_so_far,
        "run_rate_kwh_per_day": p.run_rate_kwh_per_day,
        "projected_kwh": p.projected_kwh,
        "projected_bill": p.projected_bill,
    }
    if p.budget is not None and p.over_budget is not None:
        fields["budget"] = p.budget
        fields["over_budget"] = p.over_budget
    tags = {"plant": p.plant, "billing_period": p.billing_period, "currency": p.currency}
    return format_point(BUDGET_WATCH, tags, fields, p.now * NS_PER_S)
