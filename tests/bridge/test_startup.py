"""Credentials the broker or InfluxDB refuse stop `kilowatch bridge` at start with a sentence."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.bridge.conftest import EXAMPLE_PLANT_FILE, StartBridge, count_points, wait_for
from tests.support.services import InfluxDB1, Mosquitto, kilowatch_argv, publish_lines

pytestmark = pytest.mark.integration


class AuthInfluxDB1(InfluxDB1):
    """InfluxDB 1.x with authentication on, and one admin user: admin / right-one."""

    def _config_text(self) -> str:
        return super()._config_text().replace("[http]\n", "[http]\n  auth-enabled = true\n", 1)

    def start(self) -> AuthInfluxDB1:
        super().start()
        # With no user yet, 1.x lets anyone create the first admin.
        query = "CREATE USER admin WITH PASSWORD 'right-one' WITH ALL PRIVILEGES"
        requests.post(f"{self.url}/query", params={"q": query}, timeout=10).raise_for_status()
        self._http.auth = ("admin", "right-one")  # for the test's own queries
        return self


@pytest.fixture
def influxdb_with_auth(tmp_path: Path) -> Iterator[AuthInfluxDB1]:
    with AuthInfluxDB1(workdir=tmp_path / "influxdb") as server:
        yield server


def run_bridge_until_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kilowatch_argv("bridge"),
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_influxdb_refusing_the_credentials_stops_the_bridge(
    mosquitto: Mosquitto, influxdb_with_auth: AuthInfluxDB1
) -> None:
    done = run_bridge_until_exit(
        {
            "KILOWATCH_CONFIG": str(EXAMPLE_PLANT_FILE),
            "KILOWATCH_MQTT_URL": mosquitto.url,
            "KILOWATCH_INFLUX_URL": influxdb_with_auth.url,
            "KILOWATCH_INFLUX_TOKEN": "admin:wrong-one",
        }
    )
    assert done.returncode == 2, done.stderr
    assert "refused the bridge's credentials" in done.stderr
    assert "KILOWATCH_INFLUX_TOKEN" in done.stderr
    assert "wrong-one" not in done.stderr


def test_influxdb_1x_with_authentication_takes_user_and_password(
    mosquitto: Mosquitto, influxdb_with_auth: AuthInfluxDB1, start_bridge: StartBridge
) -> None:
    start_bridge(
        mosquitto,
        influxdb_with_auth,
        "kilowatch",
        extra_env={"KILOWATCH_INFLUX_TOKEN": "admin:right-one"},
    )
    publish_lines(
        mosquitto, "kilowatch/sea/assembly-01/readings", ['{"ts": 1795178400, "energy_kwh": 1}']
    )
    wait_for("stored readings", lambda: count_points(influxdb_with_auth, "kilowatch"), 1)


def test_the_broker_refusing_the_login_stops_the_bridge(
    tls_broker: Mosquitto, tls_files: dict[str, Path], influxdb: InfluxDB1, influx_db_name: str
) -> None:
    url = f"mqtts://edge-1:wrong-one@127.0.0.1:{tls_broker.port}"
    done = run_bridge_until_exit(
        {
            "KILOWATCH_CONFIG": str(EXAMPLE_PLANT_FILE),
            "KILOWATCH_MQTT_URL": url,
            "KILOWATCH_MQTT_CA_FILE": str(tls_files["ca.pem"]),
            "KILOWATCH_INFLUX_URL": influxdb.url,
            "KILOWATCH_INFLUX_BUCKET": influx_db_name,
        }
    )
    assert done.returncode == 2, done.stderr
    assert "KILOWATCH_MQTT_URL: the broker" in done.stderr
    assert "refused the bridge's login" in done.stderr
    assert "wrong-one" not in done.stderr
