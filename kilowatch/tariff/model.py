"""The tariff file as typed, validated data (see kilowatch/tariff/README.md); no I/O."""

from __future__ import annotations

import math
import re
from datetime import date
from functools import cached_property
from typing import Annotated, Any, Literal

import holidays as holidays_lib
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from kilowatch.contract.ids import check_id
from kilowatch.tariff.charges import Billing
from kilowatch.tariff.dates import SPEC_HELP, DateSpec, coverage_problems, parse_date_spec

DayType = Literal["weekday", "saturday", "sunday", "holiday"]
DAY_TYPES: tuple[DayType, ...] = ("weekday", "saturday", "sunday", "holiday")
SECONDS_PER_DAY = 86400
MAX_TAX_PERCENT = 100.0
_TIME = re.compile(r"^(\d\d):(\d\d)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SOURCE_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
# Years scanned for the holiday names `only` may use: some holidays come every few years only
# (Mexico's change of federal government: 2024, 2030).
HOLIDAY_NAME_YEARS = range(2024, 2031)



def _must_be_text(what: str, example: str) -> BeforeValidator:
    """A before-validator refusing YAML scalars that were not quoted (they lose their meaning)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"{what} must be quoted text such as {example}, got {value!r}")
        return value

    return BeforeValidator(check)


def _number(value: Any) -> Any:
    """Refuse booleans and text where a number belongs (pydantic would turn true into 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    return value


def _edge(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} must be quoted text; {SPEC_HELP}")
    return parse_date_spec(value)


def _iso_date(value: Any) -> Any:
    """YAML reads an unquoted 2026-09-17 as a date: take it as the text it was."""
    return value.isoformat() if isinstance(value, date) else value


Id = Annotated[str, AfterValidator(check_id)]  # it becomes a tag
Text = Annotated[str, Field(min_length=1)]
Number = Annotated[float, BeforeValidator(_number)]


def parse_time_of_day(value: Any) -> int:
    """'HH:MM' (00:00 to 24:00) as seconds since midnight."""
    if not isinstance(value, str):
        raise ValueError(
            f"time {value!r} must be quoted 'HH:MM' text (unquoted 20:00 reads as a number in YAML)"
        )
    match = _TIME.match(value)
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if not match or minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"time {value!r} is not 'HH:MM' between 00:00 and 24:00")
    return hours * 3600 + minutes * 60


def format_time_of_day(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TimeRange(_Strict):
    """Local wall-clock time [start_s, end_s) of one day that belongs to `period`."""

    start_s: int
    end_s: int
    period: str


def _parse_day(value: Any) -> tuple[TimeRange, ...]:
    """A day's [["HH:MM", "HH:MM", period], ...] covering 00:00-24:00 once, sorted by start."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError('must be a list of ["HH:MM", "HH:MM", period] ranges covering 00:00-24:00')
    ranges = []
    for index, item in enumerate(value):
        if not isinstance(item, list | tuple) or len(item) != 3:
            raise ValueError(f'range {index} must be ["HH:MM", "HH:MM", period], got {item!r}')
        start, end = parse_time_of_day(item[0]), parse_time_of_day(item[1])
        if not isinstance(item[2], str):
            raise ValueError(f"range {index}: period {item[2]!r} must be a name")
        period = check_id(item[2])
        if start >= end:
            raise ValueError(f"range {index} ({item[0]}-{item[1]}) must end after it starts")
        ranges.append(TimeRange(start_s=start, end_s=end, period=period))
    ranges.sort(key=lambda r: r.start_s)
    edge, previous = 0, "the start of the day"
    for r in ranges:
        if r.start_s > edge:
            raise ValueError(
                f"gap from {format_time_of_day(edge)} to {format_time_of_day(r.start_s)}: "
                "no period covers it; make each range start where the previous one ends"
            )
        if r.start_s < edge:
            raise ValueError(
                f"overlap from {format_time_of_day(r.start_s)} to {format_time_of_day(edge)} "
                f"({previous} and '{r.period}'); every minute must belong to exactly one period"
            )
        edge, previous = r.end_s, f"'{r.period}'"
    if edge != SECONDS_PER_DAY:
        raise ValueError(
            f"gap from {format_time_of_day(edge)} to 24:00: no period covers it; "
            "the last range must end at 24:00"
        )
    return tuple(ranges)


Day = Annotated[tuple[TimeRange, ...], BeforeValidator(_parse_day)]


class Schedule(_Strict):
    """The periods of each day type; `everyday` means all four; `holiday` defaults to sunday."""

    weekday: Day | None = None
    saturday: Day | None = None
    sunday: Day | None = None
    holiday: Day | None = None
    everyday: Day | None = None

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        explicit = [name for name in DAY_TYPES if getattr(self, name) is not None]
        if self.everyday is not None and explicit:
            raise ValueError(
                f"give either everyday or day types, not both (also found {', '.join(explicit)})"
            )
        missing = [
            name for name in ("weekday", "saturday", "sunday") if getattr(self, name) is None
        ]
        if self.everyday is None and missing:
            raise ValueError(
                f"{', '.join(missing)} missing; give weekday, saturday and sunday, or everyday"
            )
        return self

    def day(self, day_type: DayType) -> tuple[TimeRange, ...]:
        """The ranges in force on a day of that type."""
        if self.everyday is not None:
            return self.everyday
        chosen = getattr(self, day_type)
        return self.sunday if chosen is None else chosen  # type: ignore[return-value]

    def periods(self) -> dict[str, str]:
        """Each period used, with the first day type that uses it (for error messages)."""
        found: dict[str, str] = {}
        for name in (*DAY_TYPES, "everyday"):
            for r in getattr(self, name) or ():
                found.setdefault(r.period, name)
        return found


def _check_rates(value: dict[str, float]) -> dict[str, float]:
    for period, rate in value.items():
        check_id(period)
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(
                f"rate of {period!r} must be a number >= 0 (currency per kWh), got {rate!r}"
            )
    return value


Rates = Annotated[dict[str, Number], AfterValidator(_check_rates)]
Edge = Annotated[DateSpec, BeforeValidator(_edge)]


class Season(_Strict):
    """Days `from`..`to` (both included; from after to wraps the year end) and their periods."""

    name: Id
    from_: Edge = Field(alias="from")
    to: Edge
    rates: Rates = Field(default_factory=dict, description="pre-tax currency per kWh, by period")
    schedule: Schedule

    @model_validator(mode="after")
    def _rated(self) -> Season:
        for period, day_type in self.schedule.periods().items():
            if period not in self.rates:
                raise ValueError(
                    f"period '{period}' is used in schedule.{day_type} but has no rate; "
                    "add it under this season's rates or the top-level rates"
                )
        return self


class HolidayRule(_Strict):
    """Public holidays (`holidays` package) plus explicit dates: days on the holiday schedule."""

    country: str | None = None
    subdivision: str | None = None
    only: tuple[str, ...] | None = Field(
        default=None, description="keep only the package's holidays with these (English) names"
    )
    extra_dates: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _known(self) -> HolidayRule:
        if self.country is None:
            if self.subdivision is not None or self.only is not None:
                raise ValueError("subdivision and only need a country (ISO 3166 code such as MX)")
            return self
        try:
            holidays_lib.country_holidays(self.country, subdiv=self.subdivision)
        except NotImplementedError as err:
            raise ValueError(
                f"{err}; use a country and subdivision the holidays package knows"
            ) from None
        if self.only is not None:
            known = {
                name
                for year in HOLIDAY_NAME_YEARS
                for joined in self._package(self.country, year).values()
                for name in joined.split("; ")
            }
            unknown = [name for name in self.only if name not in known]
            if unknown:
                raise ValueError(
                    f"only: {', '.join(map(repr, unknown))} not among the holiday names of "
                    f"{self.country}: {', '.join(sorted(known))}"
                )
        return self

    def _package(self, country: str, year: int) -> dict[date, str]:
        """The package's holidays of `year`: date -> names joined by '; '."""
        return dict(holidays_lib.country_holidays(country, subdiv=self.subdivision, years=year))

    def dates(self, year: int) -> set[date]:
        """The holidays falling in `year`."""
        days = {d for d in self.extra_dates if d.year == year}
        if self.country is not None:
            for day, joined in self._package(self.country, year).items():
                if self.only is None or set(joined.split("; ")) & set(self.only):
                    days.add(day)
        return days


class Source(_Strict):
    """Where the numbers come from: the document (and its address) and the date they apply from."""

    document: Text
    url: str | None = None
    date: Annotated[str, BeforeValidator(_iso_date)]
    notes: str | None = None

    @field_validator("date")
    @classmethod
    def _date_shape(cls, value: str) -> str:
        if not _SOURCE_DATE.match(value):
            raise ValueError(f"{value!r} must be YYYY-MM or YYYY-MM-DD (when the numbers apply)")
        return value

    def __str__(self) -> str:
        where = f", {self.url}" if self.url else ""
        return f"{self.document}{where} ({self.date})"


class Tariff(_Strict):
    """A plant's energy tariff: rates by period; the period comes from season, day type and time."""

    id: Id
    version: Annotated[Id, _must_be_text("version", '"2026.10" (unquoted numbers lose zeros)')]
    name: Text
    source: Source
    currency: str
    tax_percent: Number = Field(ge=0, le=MAX_TAX_PERCENT)
    holidays: HolidayRule = Field(default_factory=HolidayRule)
    rates: Rates = Field(
        default_factory=dict, description="shared by every season (seasons override)"
    )
    seasons: tuple[Season, ...] = Field(min_length=1)
    billing: Billing = Field(
        default=Billing(), description="per billing period: tiers, demand, fixed, ..."
    )

    @model_validator(mode="before")
    @classmethod
    def _shared_rates(cls, data: Any) -> Any:
        """Give every season the top-level rates, under its own (so a season can override one)."""
        if not isinstance(data, dict) or not isinstance(data.get("rates"), dict):
            return data
        seasons = data.get("seasons")
        if not isinstance(seasons, list):
            return data
        merged = []
        for season in seasons:
            own = season.get("rates") or {} if isinstance(season, dict) else None
            if isinstance(own, dict):  # anything else is reported by the season's own checks
                season = {**season, "rates": {**data["rates"], **own}}
            merged.append(season)
        return {**data, "seasons": merged}

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError(f"{value!r} must be an ISO 4217 code such as MXN, USD or EUR")
        return value

    @model_validator(mode="after")
    def _seasons_partition_the_year(self) -> Tariff:
        names = [season.name for season in self.seasons]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"seasons: names must be unique; repeated: {', '.join(repeated)}")
        problems = coverage_problems(names, [(s.from_, s.to) for s in self.seasons])
        if problems:
            raise ValueError("seasons: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _billing_periods_exist(self) -> Tariff:
        known = set(self.periods)
        for where, used in self.billing.periods_named().items():
            unknown = [name for name in used if name not in known]
            if unknown:
                raise ValueError(
                    f"billing.{where}: period {', '.join(map(repr, unknown))} is in no schedule; "
                    f"known periods: {', '.join(self.periods)}"
                )
        return self

    @property
    def key(self) -> str:
        """'id@version', stored with every cost."""
        return f"{self.id}@{self.version}"

    @cached_property
    def periods(self) -> tuple[str, ...]:
        """Every period name, in order of first use."""
        found: dict[str, None] = {}
        for season in self.seasons:
            found.update(dict.fromkeys(season.schedule.periods()))
        return tuple(found)
