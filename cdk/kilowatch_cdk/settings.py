"""The CDK app's settings: one typed, validated object per environment, from context and env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

CDK_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = CDK_DIR.parent

# The context key in cdk.json (or `-c`) that holds one settings object per environment.
ENVIRONMENTS_CONTEXT_KEY = "kilowatch:environments"
# `-c kilowatch:only=prod` (or env KILOWATCH_CDK_ONLY=prod) synthesizes one environment alone.
ONLY_CONTEXT_KEY = "kilowatch:only"
ENV_PREFIX = "KILOWATCH_CDK_"
# The longest range a CloudWatch alarm evaluates (period x evaluation periods), in seconds.
MAX_SHORT_ALARM_RANGE_S = 86_400  # periods under one hour
MAX_ALARM_RANGE_S = 604_800


# CloudWatch Logs' retention periods (days) and their aws_logs.RetentionDays names.
LOG_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1827: "FIVE_YEARS", 3653: "TEN_YEARS",
}  # fmt: skip


class SettingsError(ValueError):
    """A setting of the CDK app is wrong; the message names it and says what to do."""


class KilowatchSettings(BaseModel):
    """Everything one environment's KilowatchStack is built from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_name: str = Field(
        "dev",
        pattern=r"^[a-z][a-z0-9-]{0,15}$",
        description="environment name (stack Kilowatch-{env})",
    )
    account: str | None = Field(
        None,
        description="AWS account id; default CDK_DEFAULT_ACCOUNT (environment-agnostic if unset)",
    )
    region: str | None = Field(None, description="AWS region; default CDK_DEFAULT_REGION")
    topic_prefix: str = Field(
        "kilowatch", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="first MQTT topic level"
    )
    plant_file: Path = Field(
        Path("config/kilowatch.example.yaml"),
        description="plant file, bundled in the Lambda with its folder (tariffs); from the repo",
    )
    reading_interval_s: int = Field(
        300,
        ge=60,
        le=3600,
        description="meters' reading interval (s); a multiple of 60 (silent-plant alarms' period)",
    )
    silent_plant_intervals: int = Field(
        3,
        ge=1,
        le=288,
        description="alarm when a plant stores no reading for this many intervals "
        "(at most a day of them; a week when hourly)",
    )
    alarm_email: str | None = Field(None, description="e-mail subscribed to the alarm topic")
    kinesis_shards: int = Field(
        1, ge=1, le=500, description="Kinesis shards (1 MB/s, 1,000 records/s each)"
    )
    kinesis_retention_hours: int = Field(
        24, ge=24, le=8760, description="Kinesis record retention (h)"
    )
    lambda_memory_mb: int = Field(
        1024, ge=256, le=10240, description="processing Lambda memory (MB)"
    )
    lambda_timeout_s: int = Field(60, ge=10, le=900, description="processing Lambda timeout (s)")
    batch_size: int = Field(
        100, ge=1, le=10000, description="Kinesis records per Lambda invocation"
    )
    max_batching_window_s: int = Field(
        5, ge=0, le=300, description="wait up to this long to fill a batch (s)"
    )
    parallelization_factor: int = Field(
        1, ge=1, le=10, description="concurrent batches per shard (a meter's records stay in order)"
    )
    retry_attempts: int = Field(
        5,
        ge=0,
        le=10000,
        description="retries of a failing batch before it goes to the on-failure queue",
    )
    max_record_age_s: int = Field(
        3600,
        ge=60,
        le=604800,
        description="records older than this go to the on-failure queue (s); at most the retention",
    )
    influx_instance_type: str = Field(
        "db.influx.medium", description="Timestream for InfluxDB instance class"
    )
    influx_storage_gb: int = Field(
        20, ge=20, le=16384, description="InfluxDB allocated storage (GiB)"
    )
    influx_multi_az: bool = Field(False, description="InfluxDB with a standby in a second AZ")
    influx_org: str = Field("kilowatch", description="InfluxDB organisation")
    influx_bucket: str = Field(
        "kilowatch",
        description="InfluxDB bucket, mapped to InfluxQL database/RP `{bucket}/autogen`",
    )
    vpc_cidr: str = Field("10.40.0.0/16", description="VPC address range")
    max_azs: int = Field(2, ge=2, le=3, description="availability zones for subnets and endpoints")
    grafana: bool = Field(True, description="create the Amazon Managed Grafana workspace")
    workflows: bool = Field(
        True,
        description="create the Step Functions workflows (client data, monthly billing, recost)",
    )
    sentry_dsn_secret_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:secretsmanager:",
        description="ARN of a secret holding the Sentry DSN (unset: no Sentry; set: adds a NAT)",
    )
    log_retention_days: int = Field(30, description="CloudWatch Logs retention (days)")
    error_retention_days: int = Field(
        90, ge=1, description="keep failed IoT messages this long (days)"
    )
    removal: Literal["retain", "destroy"] = Field(
        "retain", description="what `cdk destroy` does to data (buckets, stream, database, keys)"
    )

    @field_validator("reading_interval_s")
    @classmethod
    def _alarm_period(cls, seconds: int) -> int:
        # It is the silent-plant alarms' period: CloudWatch takes only multiples of 60 s.
        if seconds % 60:
            raise ValueError("must be a multiple of 60 s (it is a CloudWatch alarm period)")
        return seconds

    @field_validator("silent_plant_intervals")
    @classmethod
    def _alarm_range(cls, intervals: int, info: ValidationInfo) -> int:
        # PutMetricAlarm refuses (at deploy time) an alarm evaluating more than one day, or
        # seven days when its period is an hour or more.
        period = info.data.get("reading_interval_s")
        if period is not None:
            limit = MAX_ALARM_RANGE_S if period >= 3600 else MAX_SHORT_ALARM_RANGE_S
            if period * intervals > limit:
                raise ValueError(
                    f"{intervals} intervals of {period} s is more than CloudWatch alarms evaluate "
                    f"({limit} s); use at most {limit // period}"
                )
        return intervals

    @field_validator("max_record_age_s")
    @classmethod
    def _within_retention(cls, seconds: int, info: ValidationInfo) -> int:
        hours = info.data.get("kinesis_retention_hours")
        if hours is not None and seconds > hours * 3600:
            raise ValueError(
                f"must be at most kinesis_retention_hours ({hours} h): records expire first"
            )
        return seconds

    @field_validator("log_retention_days")
    @classmethod
    def _known_retention(cls, days: int) -> int:
        if days not in LOG_RETENTION_NAMES:
            raise ValueError(
                f"must be one of CloudWatch's retention periods: {sorted(LOG_RETENTION_NAMES)}"
            )
        return days

    @property
    def log_retention(self) -> Any:
        """log_retention_days as aws_logs.RetentionDays."""
        from aws_cdk import aws_logs

        return getattr(aws_logs.RetentionDays, LOG_RETENTION_NAMES[self.log_retention_days])

    @property
    def stack_name(self) -> str:
        """CloudFormation stack name of this environment."""
        return f"Kilowatch-{self.env_name}"

    @property
    def resource_prefix(self) -> str:
        """Prefix of named resources (IoT things' type, policy, rules) so environments coexist."""
        return f"kilowatch-{self.env_name}"

    @property
    def plant_file_path(self) -> Path:
        """The plant file as an absolute path."""
        path = self.plant_file if self.plant_file.is_absolute() else REPO_ROOT / self.plant_file
        return path.resolve()


def _from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Settings given as KILOWATCH_CDK_<NAME> variables (they win over cdk.json context)."""
    fields = set(KilowatchSettings.model_fields)
    found: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in fields and name != "env_name":
                found[name] = value
    return found


def _describe(err: ValidationError, env_name: str) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    return (
        f"environment {env_name!r}: setting {where!r} is wrong ({first['msg']}); "
        f"fix it in cdk.json under {ENVIRONMENTS_CONTEXT_KEY!r} or in {ENV_PREFIX}{where.upper()}"
    )


def load_settings(
    context: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
    only: str | None = None,
) -> list[KilowatchSettings]:
    """The settings of every environment to synthesize, from the context and the environment."""
    environ = os.environ if environ is None else environ
    raw_envs = (context or {}).get(ENVIRONMENTS_CONTEXT_KEY) or {"dev": {}}
    if not isinstance(raw_envs, Mapping):
        raise SettingsError(
            f"context {ENVIRONMENTS_CONTEXT_KEY!r} must map environment names to settings"
        )
    only = only or environ.get(f"{ENV_PREFIX}ONLY") or None
    if only is not None and only not in raw_envs:
        raise SettingsError(
            f"environment {only!r} is not in {sorted(raw_envs)}; add it to cdk.json"
        )
    overrides = _from_env(environ)
    settings: list[KilowatchSettings] = []
    for env_name, values in raw_envs.items():
        if only is not None and env_name != only:
            continue
        merged: dict[str, Any] = {**(values or {}), **overrides, "env_name": env_name}
        merged.setdefault("account", environ.get("CDK_DEFAULT_ACCOUNT"))
        merged.setdefault("region", environ.get("CDK_DEFAULT_REGION"))
        try:
            settings.append(KilowatchSettings.model_validate(merged))
        except ValidationError as err:
            raise SettingsError(_describe(err, env_name)) from None
    return settings


def settings_table() -> str:
    """The settings as a Markdown table (cdk/README.md carries it; a test keeps them equal)."""
    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for name, field in KilowatchSettings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else f"`{default}`"
        lines.append(f"| `{name}` | {shown} | {field.description} |")
    return "\n".join(lines)
