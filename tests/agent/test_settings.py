"""Every bad setting stops the agent at start with a sentence naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import kilowatch.agent
from kilowatch.agent.runner import build_agent
from kilowatch.agent.settings import (
    AgentConfigError,
    AgentSettings,
    ModbusMeterConfig,
    load_agent_config,
)
from kilowatch.settings import SettingsError

AGENT_DIR = Path(kilowatch.agent.__file__).parent

GOOD: dict[str, Any] = {
    "plant": "plant-a",
    "agent": "edge-1",
    "meters": [
        {
            "id": "main",
            "source": "modbus",
            "host": "10.0.0.20",
            "unit_id": 1,
            "map": "eastron_sdm630",
        },
        {"id": "press-1", "source": "simulated"},
    ],
}


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_good_config_loads_with_defaults_and_its_maps(tmp_path: Path) -> None:
    config, maps = load_agent_config(write(tmp_path, GOOD))
    assert config.interval_s == 300
    assert config.storage.path == tmp_path / "kilowatch-agent.sqlite"  # relative to the file
    assert config.storage.on_full == "pause"
    assert config.drain.batch_readings == 1000
    assert isinstance(config.meters[0], ModbusMeterConfig) and config.meters[0].port == 502
    assert set(maps) == {"eastron_sdm630"}


def test_a_map_file_is_found_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "mine.yaml").write_text(
        yaml.safe_dump(
            {
                "model": "mine",
                "source": "my own meter's manual",
                "fields": {"energy_total_kwh": {"address": 0, "type": "uint32", "unit": "Wh"}},
            }
        )
    )
    meter = {"id": "m", "source": "modbus", "host": "gw", "map": "maps/mine.yaml"}
    _, maps = load_agent_config(write(tmp_path, {**GOOD, "meters": [meter]}))
    assert maps["maps/mine.yaml"].model == "mine"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "secret"}, "password not allowed here.*KILOWATCH_MQTT_PASSWORD"),
        ({"mqtt_url": "mqtt://x"}, "mqtt_url not allowed here.*KILOWATCH_MQTT_URL"),
        ({"interval_s": 7}, "interval_s: .*divide a day"),
        ({"plant": "plant a"}, "plant: .*A-Z a-z 0-9"),
        ({"timezone": "Mars/Base"}, "timezone: .*IANA"),
        ({"meters": []}, "meters: "),
        ({"storage": {"on_full": "shrug"}}, "storage.on_full"),
        ({"storage": {"max_mb": 0}}, "storage.max_mb"),
        ({"drain": {"batch_readings": 5000}}, "drain.batch_readings"),
        ({"polling": 5}, "polling: unknown key; remove it"),
        (
            {"meters": [{"id": "a", "source": "simulated"}, {"id": "a", "source": "simulated"}]},
            "repeated: a",
        ),
        ({"meters": [{"id": "a", "source": "bacnet"}]}, "meters.0"),
        (
            {"meters": [{"id": "a", "source": "modbus", "host": "gw", "map": "acme"}]},
            "meters.0.map: .*acme",
        ),
        ({"meters": [{"id": "a", "source": "modbus", "map": "eastron_sdm630"}]}, "host"),
        (
            {
                "meters": [
                    {
                        "id": "a",
                        "source": "modbus",
                        "host": "gw",
                        "unit_id": 300,
                        "map": "eastron_sdm630",
                    }
                ]
            },
            "unit_id",
        ),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(AgentConfigError, match=message):
        load_agent_config(write(tmp_path, {**GOOD, **change}))


def test_a_missing_config_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match="KILOWATCH_AGENT_CONFIG"):
        load_agent_config(tmp_path / "nope.yaml")


def test_broker_and_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_MQTT_URL", "mqtts://broker.example:8883")
    monkeypatch.setenv("KILOWATCH_MQTT_USERNAME", "edge-1")
    monkeypatch.setenv("KILOWATCH_MQTT_PASSWORD", "s3cret")
    settings = AgentSettings.load()
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.tls) == (
        "broker.example",
        8883,
        True,
    )
    assert (settings.mqtt.username, settings.mqtt.password) == ("edge-1", "s3cret")
    assert "s3cret" not in str(settings.mqtt) and "s3cret" not in repr(settings)


def test_credentials_in_the_url_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_MQTT_URL", "mqtt://edge:pw@broker:1883")
    assert (AgentSettings.load().mqtt.username, AgentSettings.load().mqtt.password) == (
        "edge",
        "pw",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KILOWATCH_MQTT_URL": "http://broker"}, "KILOWATCH_MQTT_URL: .*mqtt://"),
        (
            {"KILOWATCH_MQTT_CA_FILE": "/nonexistent/ca.pem"},
            "KILOWATCH_MQTT_CA_FILE: .*does not exist",
        ),
        ({"KILOWATCH_MQTT_PASSWORD": "pw"}, "KILOWATCH_MQTT_USERNAME"),
        ({"KILOWATCH_CLOCK_SPEED": "60"}, "clock_start"),
        ({"KILOWATCH_CLOCK_SPEED": "-1"}, "KILOWATCH_CLOCK_SPEED"),
        ({"KILOWATCH_TOPIC_PREFIX": "a/b"}, "KILOWATCH_TOPIC_PREFIX"),
    ],
)
def test_bad_environment_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        AgentSettings.load()


def test_a_ca_file_needs_mqtts(monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Path]) -> None:
    ca = tls_files["ca.pem"]
    monkeypatch.setenv("KILOWATCH_MQTT_CA_FILE", str(ca))
    with pytest.raises(SettingsError, match="mqtts://"):
        AgentSettings.load()
    monkeypatch.setenv("KILOWATCH_MQTT_URL", "mqtts://broker")
    assert AgentSettings.load().mqtt_ca_file == ca


def test_the_example_config_loads() -> None:
    config, maps = load_agent_config(AGENT_DIR / "agent.example.yaml")
    assert len(config.meters) == 5
    assert set(maps) == {"eastron_sdm630", "schneider_pm5xxx", "carlo_gavazzi_em24"}


def test_an_unusable_storage_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    path = write(tmp_path, {**GOOD, "storage": {"path": "taken"}})
    with pytest.raises(AgentConfigError, match=r"storage\.path"):
        build_agent(AgentSettings(agent_config=path))


@pytest.mark.parametrize(
    ("change", "plain"),
    [
        ({"meters": []}, "meters: must list at least 1 item"),
        ({"meters": "x"}, "meters: must be a list"),
        (
            {"meters": [{"id": "a", "source": "bacnet"}]},
            "meters.0: source 'bacnet' must be one of 'modbus', 'simulated'",
        ),
    ],
)
def test_bad_configs_are_said_in_plain_words(
    tmp_path: Path, change: dict[str, Any], plain: str
) -> None:
    """Not pydantic's 'Tuple should have at least 1 item after validation' or 'Input tag'."""
    with pytest.raises(AgentConfigError) as raised:
        load_agent_config(write(tmp_path, {**GOOD, **change}))
    message = str(raised.value)
    assert plain in message
    assert "Tuple" not in message and "Input tag" not in message and "tuple" not in message
    assert "at least 1" not in message or change["meters"] == []
