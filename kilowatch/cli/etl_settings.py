"""Settings of `kilowatch etl` (imported when a command runs, so `kilowatch --help` stays fast)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from kilowatch.etl.influx import InfluxSettings as EtlInflux
from kilowatch.settings import InfluxSettings

DEFAULT_PLANT_FILE = Path("config/kilowatch.example.yaml")


class EtlSettings(InfluxSettings):
    """Settings of `kilowatch etl`: the plant file and InfluxDB (token: KILOWATCH_INFLUX_TOKEN)."""

    config: Path = Field(DEFAULT_PLANT_FILE, description="plant file (YAML)")

    def influx(self) -> EtlInflux:
        """Where the ETLs read and write."""
        return EtlInflux(
            self.influx_url,
            self.influx_bucket,
            self.influx_org,
            self.influx_token.get_secret_value(),
            self.influx_version,
        )
