"""The plant file: plants with timezone and tariff, lines and meters.

See config/kilowatch.example.yaml.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kilowatch.validation import IanaTimezone, PlainId, read_yaml, yaml_line

UNASSIGNED_LINE = "unassigned"


class ConfigError(Exception):
    """The plant file cannot be used; the message says which key and what to do."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineConfig(_Strict):
    id: PlainId
    name: str = ""


class MeterConfig(_Strict):
    id: PlainId
    line: str = UNASSIGNED_LINE
    name: str = ""


class PlantConfig(_Strict):
    id: PlainId
    name: str = ""
    timezone: IanaTimezone
    tariff: Path = Field(description="tariff YAML file, relative to the plant file")
    lines: tuple[LineConfig, ...] = ()
    meters: tuple[MeterConfig, ...] = ()
    budget: float | None = Field(
        None, gt=0, description="monthly budget in the tariff's currency (bill-over-budget alert)"
    )
    demand_limit_kw: float | None = Field(
        None, gt=0, description="warn before any demand window goes above this (demand alert)"
    )

    @model_validator(mode="after")
    def _meters_on_known_lines(self) -> PlantConfig:
        lines = {line.id for line in self.lines} | {UNASSIGNED_LINE}
        seen: set[str] = set()
        for meter in self.meters:
            if meter.line not in lines:
                raise ValueError(
                    f"meter {meter.id!r} is on line {meter.line!r}, which is not in lines"
                )
            if meter.id in seen:
                raise ValueError(f"meter {meter.id!r} is declared twice")
            seen.add(meter.id)
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def line_of_meter(self) -> dict[str, str]:
        return {meter.id: meter.line for meter in self.meters}


class KilowatchConfig(_Strict):
    plants: tuple[PlantConfig, ...]
    accept_unknown_meters: bool = Field(
        default=True,
        description="store readings of meters not declared under their plant, on line 'unassigned'",
    )

    @model_validator(mode="after")
    def _unique_plants(self) -> KilowatchConfig:
        ids = [plant.id for plant in self.plants]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"plant ids must be unique; repeated: {', '.join(dupes)}")
        return self

    @cached_property
    def plant_by_id(self) -> dict[str, PlantConfig]:
        return {plant.id: plant for plant in self.plants}


def load_config(path: str | Path) -> KilowatchConfig:
    """Read and validate the plant file; tariff paths become absolute (relative to the file)."""
    path = Path(path)
    raw = read_yaml(path, "plant file", ConfigError, "; pass --config or set KILOWATCH_CONFIG")
    if not isinstance(raw, dict):
        raise ConfigError(f"plant file {path} must be a mapping with a 'plants' list")
    for plant in raw.get("plants") or []:
        if isinstance(plant, dict) and "tariff" in plant:
            plant["tariff"] = str((path.parent / str(plant["tariff"])).resolve())
    try:
        return KilowatchConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(
            f"plant file {path} is invalid:\n{format_validation_error(err, path)}"
        ) from None


_PLAIN = {
    "extra_forbidden": "unknown key; remove it or fix its spelling",
    "missing": "missing; add it",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def format_validation_error(err: ValidationError, path: Path | None = None) -> str:
    """One line per problem, naming the key path (and its line in `path`, the YAML file it came
    from): 'line 12: plants.0.timezone: ...', in plain words rather than pydantic's."""
    lines = []
    problems = err.errors()
    for problem in problems:
        loc = tuple(problem["loc"])
        if problem["type"] == "too_short" and any(
            tuple(other["loc"])[: len(loc)] == loc and len(other["loc"]) > len(loc)
            for other in problems
        ):
            continue  # pydantic counts only the valid items: the bad item's error says it all
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = _PLAIN.get(problem["type"], problem["msg"])
        ctx = problem.get("ctx") or {}
        if problem["type"] == "too_short" and "min_length" in ctx:
            message = f"must list at least {ctx['min_length']} item(s)"
        elif problem["type"] == "union_tag_invalid" and "tag" in ctx:
            discriminator = str(ctx.get("discriminator", "")).strip("'")
            message = f"{discriminator} {ctx['tag']!r} must be one of {ctx.get('expected_tags')}"
        message = message.removeprefix("Value error, ").replace("Input should be", "must be")
        line = yaml_line(path, problem["loc"]) if path is not None else None
        lines.append(f"  {f'line {line}: ' if line else ''}{where}: {message}")
    return "\n".join(lines)
