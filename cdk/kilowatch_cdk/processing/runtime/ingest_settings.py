"""The ingest Lambda's settings: one typed object, read once per container from `KILOWATCH_*`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from kilowatch.contract import DEFAULT_PREFIX, check_id
from kilowatch.influx.writer import RetryPolicy
from kilowatch.settings import InfluxSettings


class IngestSettings(InfluxSettings):
    """Every setting of the ingest Lambda; the env var is KILOWATCH_ + the name in capitals."""

    config: Path = Field(
        Path("config/kilowatch.example.yaml"), description="plant file (YAML), in the asset"
    )
    topic_prefix: str = Field(DEFAULT_PREFIX, description="first topic level")
    influx_token_secret_arn: str = Field(
        "",
        description="Secrets Manager secret holding the InfluxDB token (JSON with `token`, or "
        "the token alone); unset: influx_token is used",
    )
    firehose_stream: str = Field(
        "", description="Firehose delivery stream for the data lake; unset: no lake records"
    )
    iot_data_endpoint: str = Field(
        "", description="IoT Core data endpoint host for receipts; unset: no receipts"
    )
    sentry_dsn_secret_arn: str = Field(
        "", description="Secrets Manager secret holding the Sentry DSN; unset: no Sentry"
    )
    environment: str = Field("dev", description="environment name (Sentry's environment)")
    batch_size: int = Field(5000, ge=1, le=100_000, description="lines per InfluxDB write")
    retry_initial_s: float = Field(0.5, gt=0, description="first wait after a failed write")
    retry_max_s: float = Field(4.0, gt=0, description="longest wait between write attempts")
    retry_attempts: int = Field(
        4, ge=1, le=20, description="write attempts before the batch is reported failed"
    )
    plant_info_interval_s: float = Field(
        60.0, ge=0, description="write plant_info points at most this often per container (0: never)"
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_id(value)

    @field_validator("config")
    @classmethod
    def _config_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"plant file {value} does not exist")
        return value

    @field_validator("iot_data_endpoint")
    @classmethod
    def _host(cls, value: str) -> str:
        return value.removeprefix("https://").rstrip("/")

    @model_validator(mode="after")
    def _retry_order(self) -> IngestSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        """Writes retried a few times within one invocation; then Lambda retries the batch."""
        return RetryPolicy(
            initial_s=self.retry_initial_s,
            max_s=self.retry_max_s,
            max_attempts=self.retry_attempts,
        )
