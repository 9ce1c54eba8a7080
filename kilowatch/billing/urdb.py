"""Import of OpenEI Utility Rate Database (URDB) tariff JSON into the tariff file format (pure).

Supported: energy rates by period with tiers (kWh per month), the 12 x 24 weekday/weekend
schedules, time-of-use and flat (monthly) demand charges, the demand window, a uniform
ratchet, fixed charges per month or day and the minimum monthly charge. Anything else that
changes the bill (reactive power charges, kW-based tiers, ...) is refused or named in
`source.notes`, so an imported tariff never silently bills less than the utility.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import yaml

from kilowatch.billing.errors import BillingError
from kilowatch.tariff import Tariff, parse_tariff

MONTHS = 12
HOURS = 24
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # "02-29" ends February
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _rate(tier: dict[str, Any]) -> float:
    return float(tier.get("rate") or 0.0) + float(tier.get("adj") or 0.0)


def _schedule(doc: dict[str, Any], key: str) -> list[list[int]] | None:
    value = doc.get(key)
    if value is None:
        return None
    if len(value) != MONTHS or any(len(row) != HOURS for row in value):
        raise BillingError(f"URDB {key} must be 12 rows (months) of 24 period numbers (hours)")
    return [[int(p) for p in row] for row in value]


def _ranges(row: list[tuple[int, int]], name: Any) -> list[list[str]]:
    """24 hourly periods as ["HH:MM", "HH:MM", name] ranges, equal neighbours joined."""
    out: list[list[str]] = []
    hour = 0
    for key, group in itertools.groupby(row):
        length = len(list(group))
        out.append([f"{hour:02d}:00", f"{hour + length:02d}:00", name(key)])
        hour += length
    return out


def import_urdb(
    doc: dict[str, Any], *, tariff_id: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """A URDB rate (one element of the API's `items`) as a tariff file mapping."""
    if "items" in doc:
        items = doc["items"]
        if len(items) != 1:
            raise BillingError(f"the URDB document holds {len(items)} rates; give exactly one")
        doc = items[0]
    energy = doc.get("energyratestructure")
    weekday = _schedule(doc, "energyweekdayschedule")
    weekend = _schedule(doc, "energyweekendschedule")
    if not energy or weekday is None or weekend is None:
        raise BillingError(
            "the URDB rate has no energyratestructure with weekday and weekend schedules"
        )
    notes: list[str] = []
    demand_structure = doc.get("demandratestructure") or []
    demand_weekday = _schedule(doc, "demandweekdayschedule") if demand_structure else None
    demand_weekend = _schedule(doc, "demandweekendschedule") if demand_structure else None
    tou_demand = bool(demand_structure) and demand_weekday is not None
    zero = [[0] * HOURS for _ in range(MONTHS)]
    dwd, dwe = (demand_weekday, demand_weekend or zero) if tou_demand else (zero, zero)

    def period_name(key: tuple[int, int]) -> str:
        return f"e{key[0] + 1}-d{key[1] + 1}" if tou_demand else f"e{key[0] + 1}"

    limits = _tier_limits(energy)
    rates: dict[str, float] = {}
    seasons = []
    runs = itertools.groupby(
        range(MONTHS),
        key=lambda m: (tuple(weekday[m]), tuple(weekend[m]), tuple(dwd[m]), tuple(dwe[m])),  # type: ignore[index]
    )
    for _, group in runs:
        months = list(group)
        first, last = months[0], months[-1]
        day = [(e, d) for e, d in zip(weekday[first], dwd[first], strict=True)]  # type: ignore[index]
        end = [(e, d) for e, d in zip(weekend[first], dwe[first], strict=True)]
        for e, d in {*day, *end}:
            rates[period_name((e, d))] = _rate(energy[e][0])
        seasons.append(
            {
                "name": _MONTH_NAMES[first] + ("" if first == last else f"-{_MONTH_NAMES[last]}"),
                "from": f"{first + 1:02d}-01",
                "to": f"{last + 1:02d}-{_DAYS_IN_MONTH[last]:02d}",
                "schedule": {
                    "weekday": _ranges(day, period_name),
                    "saturday": _ranges(end, period_name),
                    "sunday": _ranges(end, period_name),
                },
            }
        )
    billing: dict[str, Any] = {}
    if limits:
        billing["energy_tiers"] = {
            "counted": "total",
            "tiers": [{"up_to_kwh": limits[0]}]
            + [
                {
                    **({"up_to_kwh": limits[t]} if t < len(limits) else {}),
                    "rates": {
                        name: _rate(
                            energy[_energy_of(name)][min(t, len(energy[_energy_of(name)]) - 1)]
                        )
                        for name in rates
                    },
                }
                for t in range(1, len(limits) + 1)
            ],
        }
    charges = _demand_charges(doc, rates, tou_demand, notes)
    if charges:
        billing["demand"] = {
            "window_minutes": int(doc.get("demandwindow") or 15),
            "charges": charges,
        }
    fixed = _fixed(doc)
    if fixed:
        billing["fixed"] = [fixed]
    minimum = doc.get("mincharge")
    if minimum:
        units = str(doc.get("minchargeunits") or "$/month")
        if units != "$/month":
            raise BillingError(f"URDB minchargeunits {units!r} is not supported (only $/month)")
        billing["minimum_bill"] = float(minimum)
    if doc.get("demandreactivepowercharge"):
        notes.append(
            f"not imported: demandreactivepowercharge {doc['demandreactivepowercharge']} $/kVAR "
            "(reactive demand is not measured); add a power_factor rule if the bill shows it"
        )
    for key in ("energyattrs", "demandattrs", "fixedattrs"):
        if doc.get(key):
            notes.append(f"not imported: {key} {doc[key]}")
    label = str(doc.get("label") or "")
    start = doc.get("startdate")
    applies = datetime.fromtimestamp(int(start), UTC).date().isoformat() if start else "2000-01-01"
    uri = doc.get("uri") or (f"https://apps.openei.org/USURDB/rate/view/{label}" if label else None)
    return {
        "id": tariff_id or _TAG_UNSAFE.sub("-", f"urdb-{label}".strip("-"))[:64],
        "version": version or applies,
        "name": f"{doc.get('utility', 'unknown utility')}: {doc.get('name', 'unnamed rate')}"[:200],
        "source": {
            "document": f"OpenEI Utility Rate Database rate {label}: {doc.get('name', '')}"
            + (f"; utility's document {doc['source']}" if doc.get("source") else ""),
            "url": uri,
            "date": applies,
            "notes": "Imported by kilowatch.billing.urdb. "
            + (" ".join(notes) if notes else "Every charge of the rate was imported."),
        },
        "currency": "USD",
        "tax_percent": 0,
        "rates": rates,
        "seasons": seasons,
        "billing": billing,
    }


def _energy_of(name: str) -> int:
    """The URDB energy period (0-based) of a period name e3 or e3-d1."""
    return int(name.split("-")[0][1:]) - 1


def _tier_limits(energy: list[list[dict[str, Any]]]) -> list[float]:
    """The kWh limits shared by every period's tiers (empty without tiers)."""
    if all(len(tiers) == 1 for tiers in energy):
        return []
    shapes = set()
    for tiers in energy:
        for tier in tiers:
            unit = tier.get("unit", "kWh")
            if unit != "kWh":
                raise BillingError(
                    f"URDB energy tiers in {unit!r} are not supported (only kWh per month)"
                )
        shapes.add(tuple(float(t["max"]) for t in tiers if t.get("max") is not None))
    longest = max(shapes, key=len)
    if any(shape != longest[: len(shape)] for shape in shapes):
        raise BillingError(
            f"URDB energy tiers differ between periods ({sorted(shapes)}); kilowatch tiers share "
            "their kWh limits across periods"
        )
    return list(longest)


def _single_rate(tiers: list[dict[str, Any]], what: str) -> float:
    if len(tiers) != 1:
        raise BillingError(f"URDB {what} has {len(tiers)} tiers; tiered demand is not supported")
    return _rate(tiers[0])


def _demand_charges(
    doc: dict[str, Any], rates: dict[str, float], tou: bool, notes: list[str]
) -> list[dict[str, Any]]:
    charges: list[dict[str, Any]] = []
    ratchet = _ratchet(doc)
    if tou:
        for j, tiers in enumerate(doc.get("demandratestructure") or []):
            per_kw = _single_rate(tiers, f"demandratestructure[{j}]")
            periods = [name for name in rates if name.endswith(f"-d{j + 1}")]
            if per_kw and periods:
                charges.append(
                    {"name": f"demand d{j + 1}", "per_kw": per_kw, "periods": periods, **ratchet}
                )
    flat = doc.get("flatdemandstructure") or []
    months = doc.get("flatdemandmonths") or [0] * MONTHS
    if flat and len(months) != MONTHS:
        raise BillingError("URDB flatdemandmonths must have 12 entries")
    for k, tiers in enumerate(flat):
        per_kw = _single_rate(tiers, f"flatdemandstructure[{k}]")
        used = [m + 1 for m in range(MONTHS) if int(months[m]) == k]
        if per_kw and used:
            charge: dict[str, Any] = {"name": "demand (all hours)", "per_kw": per_kw, **ratchet}
            if len(used) < MONTHS:
                charge["name"] = f"demand (all hours, months {used[0]}-{used[-1]})"
                charge["months"] = used
            charges.append(charge)
    if doc.get("coincidentratestructure"):
        notes.append("not imported: coincident peak charges (they need the utility's peak hours)")
    return charges


def _ratchet(doc: dict[str, Any]) -> dict[str, Any]:
    percents = doc.get("demandratchetpercentage") or []
    values = {float(p) for p in percents}
    if not values or values == {0.0}:
        return {}
    if len(values) != 1:
        raise BillingError(
            f"URDB demandratchetpercentage varies by month ({sorted(values)}); only a uniform "
            "ratchet is supported"
        )
    percent = values.pop()
    percent = percent * 100 if percent <= 1 else percent  # URDB gives 0.8 or 80
    return {"ratchet": {"percent": percent, "months": int(doc.get("lookbackmonths") or 11)}}


def _fixed(doc: dict[str, Any]) -> dict[str, Any] | None:
    amount = doc.get("fixedchargefirstmeter", doc.get("fixedmonthlycharge"))
    if not amount:
        return None
    units = str(doc.get("fixedchargeunits") or "$/month")
    if units == "$/month":
        return {"name": "customer charge", "per_period": float(amount)}
    if units == "$/day":
        return {"name": "customer charge", "per_day": float(amount)}
    raise BillingError(f"URDB fixedchargeunits {units!r} is not supported ($/month or $/day)")


def urdb_tariff(doc: dict[str, Any], **names: str | None) -> Tariff:
    """Import and validate: a Tariff ready for PlantTariff."""
    return parse_tariff(import_urdb(doc, **names), where="imported URDB rate")


class _TariffDumper(yaml.SafeDumper):
    """YAML as the tariff README writes it: times quoted, short lists on one line."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    quoted = _QUOTED.match(value) is not None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if quoted else None)


_QUOTED = re.compile(r"^(\d\d:\d\d|\d\d-\d\d|\d{4}(-\d\d){0,2}|[\d.]+)$")
_TariffDumper.add_representer(str, _text)


def tariff_yaml(raw: dict[str, Any], header: str = "") -> str:
    """A tariff mapping as a tariff file's text (validated first)."""
    parse_tariff(raw, where="imported URDB rate")
    raw = {**raw, "rates": dict(sorted(raw["rates"].items()))}
    body = yaml.dump(
        raw,
        Dumper=_TariffDumper,
        sort_keys=False,
        default_flow_style=None,
        width=100,
        allow_unicode=True,
    )
    return header + body
