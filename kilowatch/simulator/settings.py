"""The simulator's settings: one typed object from `KILOWATCH_*` env vars and flags."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated

import holidays
from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from kilowatch.contract import MAX_READINGS_PER_MESSAGE
from kilowatch.metermodel.model import EPOCH_TS
from kilowatch.settings import MqttSettings
from kilowatch.validation import IanaTimezone

_DURATION_UNITS_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# The bridge's default plant file: `kilowatch simulate` and `kilowatch bridge` with no options
# then agree on the plants and meters (a synthetic fleet's plants are in no plant file).
DEFAULT_PLANT_FILE = Path("config/kilowatch.example.yaml")
_DURATION = re.compile(r"(\d+)([dhms])")
AUTO, NONE = "auto", "none"


def parse_duration(value: str | int) -> int:
    """Seconds in a duration: '30d', '12h', '90m', '45s', '1d12h', or a whole number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration must be text such as 30d, 12h, 90m or 45s, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return value
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text)
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(
            f"{value!r} is not a duration: use a whole number and a unit, d h m or s, "
            "such as 30d, 12h, 90m, 45s or 1d12h"
        )
    return sum(int(number) * _DURATION_UNITS_S[unit] for number, unit in parts)


Duration = Annotated[int, BeforeValidator(parse_duration)]


def duration_text(seconds: float) -> str:
    """7776000 -> '90d', 5400 -> '1h30m', 0 -> '0s': a duration as a person writes it."""
    left = int(seconds)
    parts = []
    for unit, size in _DURATION_UNITS_S.items():
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


class SimulatorSettings(MqttSettings):
    """Every setting of `kilowatch simulate`; the env var is KILOWATCH_ + the name in capitals."""

    config: Path | None = Field(
        None,
        description=f"plant file (default {DEFAULT_PLANT_FILE}, as the bridge's); with plants "
        "or meters and no plant file, a synthetic fleet",
    )
    plants: int = Field(2, ge=1, le=100, description="synthetic fleet: number of plants")
    meters: int = Field(6, ge=1, le=1000, description="synthetic fleet: meters per plant")
    timezone: IanaTimezone = Field(
        "America/Mexico_City", description="synthetic fleet: plants' timezone"
    )
    holidays_country: str = Field(
        AUTO, description="ISO 3166 code for public holidays; auto: from each plant's timezone"
    )
    seed: int = Field(0, description="same seed, same readings")
    interval_s: int = Field(300, ge=1, le=86400, description="seconds per reading")
    backfill: Duration = Field(0, description="history to publish first, e.g. 30d")
    speed: float = Field(1.0, ge=1.0, le=1e6, description="replay history this many times faster")
    count: int | None = Field(None, ge=1, description="stop after this many readings per meter")
    duration: Duration | None = Field(None, gt=0, description="stop after running this long")
    batch_size: int = Field(
        500, ge=1, le=MAX_READINGS_PER_MESSAGE, description="readings per message when behind"
    )
    max_unacked: int = Field(16, ge=1, le=1000, description="messages awaiting PUBACK at most")
    flush_timeout_s: float = Field(30.0, gt=0, description="at stop, wait this long for PUBACKs")
    log_interval_s: float = Field(60.0, gt=0, description="progress log line period")
    mqtt_client_id: str = Field("kilowatch-simulator", description="unique per simulator")

    @model_validator(mode="before")
    @classmethod
    def _bridge_plant_file(cls, data: object) -> object:
        # Neither a plant file nor a synthetic fleet asked for: the bridge's default plant file.
        if isinstance(data, dict) and not any(data.get(k) for k in ("config", "plants", "meters")):
            return {**data, "config": DEFAULT_PLANT_FILE}
        return data

    @field_validator("config")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(
                f"plant file {value} does not exist; pass --config FILE (the bridge's plant "
                "file), or --plants N and --meters N for a synthetic fleet"
            )
        return value

    @field_validator("holidays_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value.lower() in (AUTO, NONE):
            return value.lower()
        if value.upper() not in holidays.list_supported_countries():
            raise ValueError(
                f"{value!r} is not a country the holidays package knows; use an ISO 3166 code "
                "such as MX, US or DE, 'auto' (from the timezone) or 'none'"
            )
        return value.upper()

    @field_validator("backfill")
    @classmethod
    def _after_epoch(cls, value: int, info: ValidationInfo) -> int:
        earliest = time.time() - EPOCH_TS - info.data.get("interval_s", 0)
        if value > earliest:
            raise ValueError(
                "backfill reaches before 2020-01-01, where simulated registers start; "
                f"use at most {int(earliest // 86400)}d"
            )
        return value

    @field_validator("speed")
    @classmethod
    def _replays_history(cls, value: float, info: ValidationInfo) -> float:
        if value > 1 and not info.data.get("backfill"):
            raise ValueError(
                "a speed above 1 replays history, so it needs a backfill (such as 1d): an "
                "accelerated clock starting now would publish readings from the future, which "
                "the bridge rejects"
            )
        return value
