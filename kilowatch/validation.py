"""Checks shared by every settings object and file format: ids and time zones."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

from kilowatch.contract import ID_PATTERN


def check_id(value: str) -> str:
    """An id that can stand in an MQTT topic level and an InfluxDB tag unescaped."""
    if not ID_PATTERN.match(value):
        raise ValueError(f"{value!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return value


def check_timezone(value: str) -> str:
    """An IANA time zone name that this machine's tz database knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone such as America/Mexico_City") from None
    return value


PlainId = Annotated[str, AfterValidator(check_id)]
IanaTimezone = Annotated[str, AfterValidator(check_timezone)]
