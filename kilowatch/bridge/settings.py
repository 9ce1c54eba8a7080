"""The bridge's settings: one typed object from `KILOWATCH_*` env vars and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from kilowatch.agent.status import status_subscription
from kilowatch.connections import DEFAULT_INFLUX_URL, DEFAULT_MQTT_URL, MqttTarget
from kilowatch.contract import DEFAULT_PREFIX, ID_PATTERN
from kilowatch.settings import KilowatchSettings
from kilowatch.validation import CaFile


class BridgeSettings(KilowatchSettings):
    """Every setting of `kilowatch bridge`; the env var is KILOWATCH_ + the name in capitals."""

    config: Path = Field(Path("config/kilowatch.example.yaml"), description="plant file (YAML)")
    mqtt_url: str = Field(
        DEFAULT_MQTT_URL, description="broker, mqtt://user:pass@host:port or mqtts://"
    )
    mqtt_ca_file: CaFile = Field(None, description="CA certificate for mqtts://")
    mqtt_client_id: str = Field(
        "kilowatch-bridge", description="fixed id: the broker keeps its session"
    )
    mqtt_share_group: str = Field("", description="subscribe via $share/GROUP/... to split load")
    topic_prefix: str = Field(DEFAULT_PREFIX, description="first topic level")
    influx_url: str = Field(DEFAULT_INFLUX_URL, description="InfluxDB base URL")
    influx_token: SecretStr = Field(SecretStr(""), description="API token (2.x/3.x; 1.x with auth)")
    influx_org: str = Field("kilowatch", min_length=1, description="organisation (2.x)")
    influx_bucket: str = Field(
        "kilowatch", min_length=1, description="bucket (2.x) or database (1.x)"
    )
    influx_version: Literal["auto", "1", "2"] = Field("auto", description="detected from /ping")
    batch_size: int = Field(5000, ge=1, le=100_000, description="lines per InfluxDB write")
    write_concurrency: int = Field(2, ge=1, le=16, description="batches written at once")
    batch_max_messages: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="messages per batch; keep under the broker's in-flight window",
    )
    flush_interval_ms: int = Field(50, ge=0, le=10_000, description="longest wait to fill a batch")
    max_pending_messages: int = Field(20_000, ge=1, description="received, not yet costed")
    max_pending_mb: float = Field(
        64.0, gt=0, description="payload megabytes received, not yet costed"
    )
    retry_initial_s: float = Field(0.5, gt=0, description="first wait after a failed write")
    retry_max_s: float = Field(30.0, gt=0, description="longest wait between write attempts")
    retry_exponential_base: float = Field(2.0, ge=1, description="wait growth per failure")
    health_interval_s: float = Field(10.0, gt=0, description="health point period")
    billing_interval_s: float = Field(
        10.0, gt=0, description="plant_info and billing points period (at health points)"
    )
    log_interval_s: float = Field(60.0, gt=0, description="health log line period")

    @field_validator("mqtt_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        MqttTarget.from_url(value)
        return value

    @field_validator("influx_url")
    @classmethod
    def _influx_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("config")
    @classmethod
    def _config_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"plant file {value} does not exist")
        return value

    @field_validator("mqtt_client_id", "mqtt_share_group", "topic_prefix")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if value and not ID_PATTERN.match(value):
            raise ValueError(f"{value!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
        return value

    @model_validator(mode="after")
    def _retry_order(self) -> BridgeSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self

    @property
    def mqtt(self) -> MqttTarget:
        return MqttTarget.from_url(self.mqtt_url)

    @property
    def subscriptions(self) -> list[str]:
        """Every meter's readings and every agent's status, shared when a group is set."""
        topics = [f"{self.topic_prefix}/+/+/readings", status_subscription(self.topic_prefix)]
        if self.mqtt_share_group:
            return [f"$share/{self.mqtt_share_group}/{topic}" for topic in topics]
        return topics
