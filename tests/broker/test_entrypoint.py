"""provisioning/mosquitto/entrypoint.sh: the password file built from environment variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.services import MOSQUITTO_PROVISIONING, require_binary

ENTRYPOINT = MOSQUITTO_PROVISIONING / "entrypoint.sh"


def run_entrypoint(passwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the entrypoint with only these KILOWATCH_* variables; `true` stands in for Mosquitto."""
    require_binary("mosquitto_passwd", "mosquitto")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KILOWATCH_MQTT_")}
    return subprocess.run(
        [str(ENTRYPOINT), "true"],
        env={**clean, "KILOWATCH_MQTT_PASSWORD_FILE": str(passwd), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def users(passwd: Path) -> list[str]:
    return [line.split(":", 1)[0] for line in passwd.read_text().splitlines()]


def test_builds_hashed_entries_for_every_user(tmp_path: Path) -> None:
    passwd = tmp_path / "auth" / "passwd"
    done = run_entrypoint(
        passwd,
        KILOWATCH_MQTT_BRIDGE_PASSWORD="bridge secret",
        KILOWATCH_MQTT_SIMULATOR_PASSWORD="sim-secret",
        KILOWATCH_MQTT_AGENT_PASSWORDS="plant-a:a*secret\n plant.b:b:secret",
    )
    assert done.returncode == 0, done.stderr
    assert users(passwd) == ["bridge", "simulator", "plant-a", "plant.b"]
    text = passwd.read_text()
    assert all(secret not in text for secret in ("bridge secret", "sim-secret", "a*secret"))
    assert passwd.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_simulator_and_agents_are_optional(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    done = run_entrypoint(passwd, KILOWATCH_MQTT_BRIDGE_PASSWORD="bridge-secret")
    assert done.returncode == 0, done.stderr
    assert users(passwd) == ["bridge"]


def test_refuses_to_start_without_a_bridge_password(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path / "passwd")
    assert done.returncode == 2
    assert "KILOWATCH_MQTT_BRIDGE_PASSWORD is not set" in done.stderr


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ("plant-a", "entry 1 must be plant:password"),
        ("plant-a:ok plant/b:secret-b", "entry 2 must be plant:password"),
        ("plant+a:secret-a", "entry 1 must be plant:password"),
        ("plant-a:", "entry 1 must be plant:password"),
        ("bridge:secret-b", "'bridge' is a service user"),
        ("plant-a:one plant-a:two", "names plant 'plant-a' twice"),
    ],
)
def test_rejects_bad_agent_entries_without_printing_passwords(
    tmp_path: Path, agents: str, message: str
) -> None:
    done = run_entrypoint(
        tmp_path / "passwd",
        KILOWATCH_MQTT_BRIDGE_PASSWORD="bridge-secret",
        KILOWATCH_MQTT_AGENT_PASSWORDS=agents,
    )
    assert done.returncode == 2
    assert "KILOWATCH_MQTT_AGENT_PASSWORDS" in done.stderr
    assert message in done.stderr
    assert "secret" not in done.stderr
