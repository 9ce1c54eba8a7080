"""Pieces every process's settings share: env-var naming and readable validation errors."""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "KILOWATCH_"


class SettingsError(Exception):
    """A setting is wrong; the message names it (as an env var) and says what is expected."""


class KilowatchSettings(BaseSettings):
    """Base of each process's settings: `KILOWATCH_*` env vars, overridden by flags."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    @classmethod
    def load(cls, **flags: Any) -> Self:
        """Settings from the environment, with the flags that were given (not None) on top."""
        given = {name: value for name, value in flags.items() if value is not None}
        try:
            return cls(**given)
        except ValidationError as err:
            raise SettingsError(describe_settings_error(err)) from None


def describe_settings_error(err: ValidationError) -> str:
    """'KILOWATCH_MQTT_URL: must start with mqtt:// ...', one line per wrong setting."""
    lines = ["invalid settings:"]
    for problem in err.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}")
    return "\n".join(lines)
