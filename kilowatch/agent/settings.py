"""The agent's settings: broker, credentials and clock from `KILOWATCH_*` env vars and flags; what
to poll and how from the agent config file (YAML). Everything is checked before anything connects.

Credentials never come from the config file: it is copied around with device images, so a
broker key in it (url, username, password, ...) is refused with a sentence saying where they go.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from kilowatch.agent.capacity import DiskCap, OnFull
from kilowatch.config import ConfigError, format_validation_error
from kilowatch.contract import (
    DEFAULT_INTERVAL_S,
    MAX_READINGS_PER_MESSAGE,
)
from kilowatch.mqtt.connection import MqttTarget
from kilowatch.registers import MapError, RegisterMap, load_map
from kilowatch.settings import MqttSettings
from kilowatch.validation import IanaTimezone, PlainId, read_yaml

DAY_S = 86_400
BYTES_PER_MB = 1024 * 1024
BROKER_KEYS = frozenset(
    {"mqtt", "mqtt_url", "broker", "url", "username", "user", "password", "ca_file", "tls"}
)


class AgentConfigError(ConfigError):
    """The agent config file cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageConfig(_Strict):
    """Where readings wait for the broker, and the disk cap."""

    path: Path = Field(Path("kilowatch-agent.sqlite"), description="SQLite file")
    max_mb: float | None = Field(1024, gt=0, description="cap on the backlog's size")
    max_age_days: float | None = Field(90, gt=0, description="readings older than this are dropped")
    on_full: OnFull = Field("pause", description="at max_mb: pause polling or drop_oldest")

    def cap(self) -> DiskCap:
        return DiskCap(
            max_bytes=None if self.max_mb is None else int(self.max_mb * BYTES_PER_MB),
            max_age_s=None if self.max_age_days is None else int(self.max_age_days * DAY_S),
            on_full=self.on_full,
        )


class DrainConfig(_Strict):
    """How the backlog goes out after an outage."""

    batch_readings: int = Field(MAX_READINGS_PER_MESSAGE, ge=1, le=MAX_READINGS_PER_MESSAGE)
    rate_readings_per_s: float = Field(2000, gt=0, description="backlog readings per second")
    max_inflight_messages: int = Field(20, ge=1, le=10_000, description="published, not acked")
    window_readings: int = Field(32_000, ge=1, description="oldest readings planned at once")


Delivery = Literal["stored", "broker"]


class ModbusConfig(_Strict):
    """Modbus TCP client settings, shared by every Modbus meter."""

    timeout_s: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)


class _MeterBase(_Strict):
    id: PlainId
    max_power_kw: float = Field(
        10_000, gt=0, description="above this mean power, a register jump is not believable"
    )


class ModbusMeterConfig(_MeterBase):
    """A meter read over Modbus TCP (directly or through an RS-485 gateway)."""

    source: Literal["modbus"]
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=247)
    map: str = Field(min_length=1, description="shipped map name or path to a map YAML")


class SimulatedMeterConfig(_MeterBase):
    """A meter played by the simulator's model (demos and tests without hardware)."""

    source: Literal["simulated"]
    kind: Literal["press", "compressor", "hvac", "lighting", "furnace", "assembly"] | None = None
    seed: int = 0
    holidays_country: str | None = Field("MX", description="public holidays the plant observes")


MeterConfig = Annotated[ModbusMeterConfig | SimulatedMeterConfig, Field(discriminator="source")]


class AgentConfig(_Strict):
    """The agent config file."""

    plant: PlainId
    agent: PlainId
    timezone: IanaTimezone = Field(
        "UTC", description="plant timezone (the simulated meters' shifts)"
    )
    interval_s: int = Field(DEFAULT_INTERVAL_S, ge=1, le=DAY_S)
    status_interval_s: float = Field(60, gt=0)
    delivery: Delivery = Field(
        "stored",
        description="delete a reading once the bridge's receipt says it is stored (stored), "
        "or on the broker's PUBACK (broker: for brokers and bridges that send no receipts)",
    )
    receipt_timeout_s: float = Field(
        300, gt=0, le=DAY_S, description="no receipt this long after the PUBACK: send again"
    )
    storage: StorageConfig = Field(default_factory=StorageConfig)
    drain: DrainConfig = Field(default_factory=DrainConfig)
    modbus: ModbusConfig = Field(default_factory=ModbusConfig)
    meters: tuple[MeterConfig, ...] = Field(min_length=1)

    @field_validator("interval_s")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if DAY_S % value:
            raise ValueError(
                f"must divide a day (86400 s) so polls align to the clock, got {value}"
            )
        return value

    @model_validator(mode="after")
    def _unique_meters(self) -> AgentConfig:
        ids = [meter.id for meter in self.meters]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"meter ids must be unique; repeated: {', '.join(dupes)}")
        return self


def load_agent_config(path: Path | str) -> tuple[AgentConfig, dict[str, RegisterMap]]:
    """Read and check the agent config file and the register map of every Modbus meter.

    Relative paths in it (storage.path, map files) are relative to the file.
    """
    path = Path(path)
    raw = read_yaml(
        path, "agent config", AgentConfigError, "; pass --config or set KILOWATCH_AGENT_CONFIG"
    )
    if not isinstance(raw, dict):
        raise AgentConfigError(f"agent config {path} must be a mapping with plant, agent, meters")
    broker_keys = sorted(BROKER_KEYS & set(raw))
    if broker_keys:
        raise AgentConfigError(
            f"agent config {path}: {', '.join(broker_keys)} not allowed here; the broker and its "
            "credentials come from the environment: KILOWATCH_MQTT_URL (mqtt:// or mqtts://), "
            "KILOWATCH_MQTT_USERNAME, KILOWATCH_MQTT_PASSWORD, KILOWATCH_MQTT_CA_FILE"
        )
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as err:
        raise AgentConfigError(
            f"agent config {path} is invalid:\n{format_validation_error(err, Path(path))}"
        ) from None
    base = path.parent
    if not config.storage.path.is_absolute():
        storage = config.storage.model_copy(update={"path": base / config.storage.path})
        config = config.model_copy(update={"storage": storage})
    maps: dict[str, RegisterMap] = {}
    for index, meter in enumerate(config.meters):
        if isinstance(meter, ModbusMeterConfig) and meter.map not in maps:
            try:
                maps[meter.map] = load_map(meter.map, relative_to=base)
            except MapError as err:
                raise AgentConfigError(f"agent config {path}: meters.{index}.map: {err}") from None
    return config, maps


class AgentSettings(MqttSettings):
    """Every setting of `kilowatch agent` from the environment; the env var is KILOWATCH_ + NAME."""

    agent_config: Path = Field(Path("agent.yaml"), description="agent config file (YAML)")
    mqtt_username: str | None = Field(None, description="overrides a user in mqtt_url")
    mqtt_password: SecretStr | None = Field(None, description="overrides a password in mqtt_url")
    mqtt_client_id: str | None = Field(None, description="default kilowatch-agent-PLANT-AGENT")
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    mqtt_reconnect_max_s: float = Field(30, ge=1, le=3600, description="longest reconnect wait")
    clock_speed: float = Field(1.0, gt=0, le=100_000, description="demo/test: agent time speed")
    clock_start: float | None = Field(None, ge=0, description="demo/test: agent time at anchor")
    clock_anchor: float | None = Field(None, ge=0, description="demo/test: real time of start")

    @model_validator(mode="after")
    def _tls_and_clock(self) -> AgentSettings:
        if self.mqtt_ca_file is not None and not self.mqtt.tls:
            raise ValueError("mqtt_ca_file is set but mqtt_url is not mqtts://: use mqtts://")
        if self.mqtt.password and not self.mqtt.username:
            raise ValueError("mqtt_password is set but no user name: set KILOWATCH_MQTT_USERNAME")
        if self.clock_speed != 1.0 and self.clock_start is None:
            raise ValueError("clock_speed needs clock_start (the agent time to start from)")
        return self

    @cached_property
    def mqtt(self) -> MqttTarget:
        """The broker, with credentials from KILOWATCH_MQTT_USERNAME/PASSWORD if set."""
        target = MqttTarget.from_url(self.mqtt_url)
        if self.mqtt_username is None and self.mqtt_password is None:
            return target
        return MqttTarget(
            host=target.host,
            port=target.port,
            tls=target.tls,
            username=self.mqtt_username or target.username,
            password=(
                self.mqtt_password.get_secret_value() if self.mqtt_password else target.password
            ),
        )
