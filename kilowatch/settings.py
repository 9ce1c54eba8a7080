"""Settings: the one way every process reads its configuration (flags over `KILOWATCH_*` env
vars, validated at start), with mixins for the MQTT broker and for InfluxDB."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kilowatch.contract import DEFAULT_PREFIX, check_id
from kilowatch.mqtt.connection import DEFAULT_MQTT_URL, ClientCertificate, MqttTarget
from kilowatch.validation import CaFile

ENV_PREFIX = "KILOWATCH_"
DEFAULT_INFLUX_URL = "http://localhost:8086"


class SettingsError(Exception):
    """A setting is wrong; the message names it (as an env var) and says what is expected.

    `problems` keeps each one as (field name, what is wrong, whether it came from a flag), so
    the CLI can name the flag the person typed instead of the env var.
    """

    def __init__(self, message: str, problems: tuple[tuple[str, str, bool], ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


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
            problems = tuple(
                (field, message, field in given) for field, message in settings_problems(err)
            )
            raise SettingsError(describe_settings_error(err), problems) from None


class MqttSettings(KilowatchSettings):
    """The broker: its URL (credentials in it), TLS CA file, an optional client certificate
    (AWS IoT Core logs devices in with one) and the first topic level. Each app adds its own
    `mqtt_client_id` (checked here as an id)."""

    mqtt_url: str = Field(
        DEFAULT_MQTT_URL, description="broker, mqtt://user:pass@host:port or mqtts://"
    )
    mqtt_ca_file: CaFile = Field(None, description="CA certificate for mqtts://")
    topic_prefix: str = Field(DEFAULT_PREFIX, description="first topic level")
    mqtt_cert_file: Path | None = Field(
        None, description="client certificate (PEM) for mqtts://, e.g. AWS IoT Core's; with the key"
    )
    mqtt_key_file: Path | None = Field(
        None,
        description="private key (PEM) of mqtt_cert_file",
        validate_default=True,  # checked when left out too: the two go together
    )

    @field_validator("mqtt_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        MqttTarget.from_url(value)
        return value

    @field_validator("mqtt_cert_file")
    @classmethod
    def _cert_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"client certificate {value} does not exist")
        return value

    @field_validator("mqtt_key_file")
    @classmethod
    def _client_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Certificate and key: both or neither, over mqtts://, and the key is the cert's."""
        if "mqtt_cert_file" not in info.data or "mqtt_url" not in info.data:
            return value  # already reported as wrong
        cert: Path | None = info.data["mqtt_cert_file"]
        if value is not None and not value.is_file():
            raise ValueError(f"private key {value} does not exist")
        if cert is None and value is None:
            return None
        if cert is None or value is None:
            raise ValueError(
                "KILOWATCH_MQTT_CERT_FILE and KILOWATCH_MQTT_KEY_FILE go together: set both "
                "(client-certificate TLS) or neither"
            )
        if not MqttTarget.from_url(info.data["mqtt_url"]).tls:
            raise ValueError(
                "a client certificate needs TLS: make KILOWATCH_MQTT_URL mqtts:// (port 8883)"
            )
        try:
            ssl.create_default_context().load_cert_chain(cert, value)
        except (ssl.SSLError, OSError) as err:
            raise ValueError(
                f"{value} is not the PEM private key of the certificate {cert} ({err})"
            ) from None
        return value

    @field_validator("mqtt_client_id", "topic_prefix", check_fields=False)
    @classmethod
    def _plain_id(cls, value: str | None) -> str | None:
        return None if value is None else check_id(value)

    @property
    def mqtt(self) -> MqttTarget:
        """The broker, parsed from mqtt_url."""
        return MqttTarget.from_url(self.mqtt_url)

    @property
    def mqtt_ca_path(self) -> str | None:
        """The CA file as paho takes it."""
        return str(self.mqtt_ca_file) if self.mqtt_ca_file else None

    @property
    def mqtt_client_cert(self) -> ClientCertificate | None:
        """The client certificate and its key, as paho takes them; None when not set."""
        if self.mqtt_cert_file is None or self.mqtt_key_file is None:
            return None
        return ClientCertificate(str(self.mqtt_cert_file), str(self.mqtt_key_file))


class InfluxSettings(KilowatchSettings):
    """InfluxDB: URL, token, organisation, bucket (database on 1.x) and API version."""

    influx_url: str = Field(DEFAULT_INFLUX_URL, description="InfluxDB base URL")
    influx_token: SecretStr = Field(SecretStr(""), description="API token (2.x/3.x; 1.x with auth)")
    influx_org: str = Field("kilowatch", min_length=1, description="organisation (2.x)")
    influx_bucket: str = Field(
        "kilowatch", min_length=1, description="bucket (2.x) or database (1.x)"
    )
    influx_version: Literal["auto", "1", "2"] = Field("auto", description="detected from /ping")

    @field_validator("influx_url")
    @classmethod
    def _influx_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


_FRIENDLY = {
    "extra_forbidden": "is not a setting (check its spelling)",
    "missing": "is required",
}


def settings_problems(err: ValidationError) -> list[tuple[str, str]]:
    """(field name, what is wrong) per problem, in plain words (no pydantic wording)."""
    problems = []
    for problem in err.errors():
        field = "_".join(str(part) for part in problem["loc"])
        message = _FRIENDLY.get(problem["type"], problem["msg"])
        message = (
            message.removeprefix("Value error, ")
            .replace("String should have at least 1 character", "must not be empty")
            .replace("Input should be", "must be")
        )
        problems.append((field, message))
    return problems


def describe_settings_error(err: ValidationError) -> str:
    """'KILOWATCH_MQTT_URL: must start with mqtt:// ...', one line per wrong setting."""
    lines = ["invalid settings:"]
    for field, message in settings_problems(err):
        lines.append(f"  {ENV_PREFIX}{field.upper()}: {message}")
    return "\n".join(lines)
