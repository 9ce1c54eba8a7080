"""The bridge's settings: one typed object from `KILOWATCH_*` env vars and flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from kilowatch.contract import check_id, status_subscription
from kilowatch.influx.writer import RetryPolicy
from kilowatch.mqtt.receive import ReceivePath
from kilowatch.settings import InfluxSettings, MqttSettings


class BridgeSettings(MqttSettings, InfluxSettings):
    """Every setting of `kilowatch bridge`; the env var is KILOWATCH_ + the name in capitals."""

    config: Path = Field(Path("config/kilowatch.example.yaml"), description="plant file (YAML)")
    mqtt_client_id: str = Field(
        "kilowatch-bridge", description="fixed id: the broker keeps its session"
    )
    mqtt_share_group: str = Field("", description="subscribe via $share/GROUP/... to split load")
    mqtt_receive: ReceivePath = Field(
        "batch", description="batch (fast, on paho internals) or paho (paho's own receive path)"
    )
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
    retry_jitter: float = Field(0.2, ge=0, lt=1, description="each wait varies by this fraction")
    health_interval_s: float = Field(10.0, gt=0, description="health point period")
    billing_interval_s: float = Field(
        10.0, gt=0, description="plant_info and billing points period (at health points)"
    )
    log_interval_s: float = Field(60.0, gt=0, description="health log line period")
    mqtt_keepalive_s: int = Field(
        30, ge=2, le=3600, description="MQTT keepalive (the broker drops it after 1.5x silent)"
    )
    receipts: bool = Field(
        True, description="publish receipts to agents whose readings name them (after storing)"
    )
    test_kill_before_receipts: bool = Field(
        False,
        description="tests only: SIGKILL itself after the first stored batch's PUBACKs, "
        "before its receipts (proves that an agent resends what lost its receipt)",
    )
    demand_watch: bool = Field(
        True,
        description="write demand_watch and budget_watch points after stored batches and "
        "with the billing points",
    )
    demand_watch_interval_s: float = Field(
        1.0, gt=0, description="at most this often (the next stored batch brings them)"
    )

    @field_validator("config")
    @classmethod
    def _config_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"plant file {value} does not exist")
        return value

    @field_validator("mqtt_share_group")
    @classmethod
    def _share_group(cls, value: str) -> str:
        return check_id(value) if value else value

    @model_validator(mode="after")
    def _retry_order(self) -> BridgeSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        """How failed writes (and the wait for InfluxDB at start) are retried."""
        return RetryPolicy(
            initial_s=self.retry_initial_s,
            max_s=self.retry_max_s,
            exponential_base=self.retry_exponential_base,
            jitter=self.retry_jitter,
        )

    @property
    def subscriptions(self) -> list[str]:
        """Every meter's readings and every agent's status, shared when a group is set."""
        topics = [f"{self.topic_prefix}/+/+/readings", status_subscription(self.topic_prefix)]
        if self.mqtt_share_group:
            return [f"$share/{self.mqtt_share_group}/{topic}" for topic in topics]
        return topics
