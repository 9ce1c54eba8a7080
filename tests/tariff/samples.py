"""Hand-made tariffs with round rates, so expected costs can be worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import yaml

from kilowatch.tariff import Tariff, parse_tariff

HEAD = """
id: test-tou
version: "1"
name: Test time of use
source: {document: hand-made test tariff, date: "2026-01"}
"""

# Shaped like CFE GDMTH, fixed season dates, MX holidays plus Christmas Eve, IVA 16 %.
TOU = (
    HEAD
    + """
currency: MXN
tax_percent: 16
holidays: {country: MX, extra_dates: ["2026-12-24"]}
seasons:
  - name: summer
    from: "04-01"
    to: "10-31"
    rates: {base: 1.0, intermediate: 2.0, peak: 4.0}
    schedule:
      weekday: [["00:00", "06:00", base], ["06:00", "20:00", intermediate],
                ["20:00", "22:00", peak], ["22:00", "24:00", intermediate]]
      saturday: [["00:00", "07:00", base], ["07:00", "24:00", intermediate]]
      sunday: [["00:00", "19:00", base], ["19:00", "24:00", intermediate]]
  - name: winter
    from: "11-01"
    to: "03-31"
    rates: {base: 0.5, intermediate: 1.5, peak: 3.0}
    schedule:
      weekday: [["00:00", "06:00", base], ["06:00", "18:00", intermediate],
                ["18:00", "22:00", peak], ["22:00", "24:00", intermediate]]
      saturday: [["00:00", "08:00", base], ["08:00", "24:00", intermediate]]
      sunday: [["00:00", "24:00", base]]
"""
)

# The same with CFE's season edges, which follow the old Mexican clock changes.
TOU_RULES = (
    TOU.replace('from: "04-01"', "from: first sunday of april")
    .replace('to: "10-31"', "to: day before last sunday of october")
    .replace('from: "11-01"', "from: last sunday of october")
    .replace('to: "03-31"', "to: day before first sunday of april")
)

# One change at 02:30 every day: inside the skipped hour in Europe (and New York) in spring.
NIGHT_DAY = (
    HEAD
    + """
currency: EUR
tax_percent: 0
rates: {night: 1.0, day: 2.0}
seasons:
  - name: all-year
    from: "01-01"
    to: "12-31"
    schedule:
      everyday: [["00:00", "02:30", night], ["02:30", "24:00", day]]
"""
)

# One change at 01:30: inside the hour New York repeats in autumn.
NIGHT_DAY_0130 = NIGHT_DAY.replace('"02:30"', '"01:30"')


def tariff(text: str) -> Tariff:
    return parse_tariff(yaml.safe_load(text))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Unix seconds of a UTC date and time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> int:
    """Unix seconds of a local wall-clock date and time in `zone` (fold=1: its repeat)."""
    moment = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold)
    return int(moment.timestamp())
