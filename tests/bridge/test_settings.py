"""A wrong setting stops `kilowatch bridge` at start with a sentence naming it."""

from __future__ import annotations

import subprocess

import pytest

from kilowatch.bridge.settings import BridgeSettings
from kilowatch.settings import SettingsError
from tests.support.services import kilowatch_argv


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"KILOWATCH_MQTT_URL": "http://broker:1883"},
            "KILOWATCH_MQTT_URL: the broker URL must start",
        ),
        ({"KILOWATCH_MQTT_URL": "mqtt://:1883"}, "KILOWATCH_MQTT_URL: the broker URL has no host"),
        ({"KILOWATCH_INFLUX_URL": "localhost:8086"}, "KILOWATCH_INFLUX_URL: must start with http"),
        ({"KILOWATCH_CONFIG": "/nowhere/plants.yaml"}, "KILOWATCH_CONFIG: plant file /nowhere"),
        ({"KILOWATCH_BATCH_SIZE": "0"}, "KILOWATCH_BATCH_SIZE: must be greater"),
        ({"KILOWATCH_INFLUX_VERSION": "3"}, "KILOWATCH_INFLUX_VERSION: must be 'auto'"),
        ({"KILOWATCH_MQTT_CLIENT_ID": "a b"}, "KILOWATCH_MQTT_CLIENT_ID: 'a b' must be"),
        ({"KILOWATCH_RETRY_MAX_S": "0.1"}, "retry_max_s must be at least retry_initial_s"),
        (
            {"KILOWATCH_MQTT_URL": "mqtt://broker:0"},
            "KILOWATCH_MQTT_URL: the broker URL has a port",
        ),
        ({"KILOWATCH_INFLUX_BUCKET": ""}, "KILOWATCH_INFLUX_BUCKET: must not be empty"),
        ({"KILOWATCH_MQTT_CA_FILE": "/no/ca.pem"}, "KILOWATCH_MQTT_CA_FILE: CA certificate /no"),
        (
            {"KILOWATCH_MQTT_CA_FILE": __file__},
            "KILOWATCH_MQTT_CA_FILE: CA certificate .* is not a PEM certificate",
        ),
    ],
)
def test_bad_setting_is_named(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected.replace("(", r"\(")):
        BridgeSettings.load()


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_INFLUX_BUCKET", "from-env")
    assert BridgeSettings.load(influx_bucket="from-flag").influx_bucket == "from-flag"
    assert BridgeSettings.load(influx_bucket=None).influx_bucket == "from-env"


def test_share_group_splits_both_subscriptions() -> None:
    settings = BridgeSettings.load(mqtt_share_group="bridges")
    assert settings.subscriptions == [
        "$share/bridges/kilowatch/+/+/readings",
        "$share/bridges/kilowatch/+/_agents/+/status",
    ]


def test_the_command_exits_2_with_the_sentence_and_never_the_password() -> None:
    done = subprocess.run(
        kilowatch_argv("bridge", "--mqtt-url", "ftp://user:s3cret@broker"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    # One sentence naming the flag the person typed (the env var when it came from there).
    assert done.stderr.startswith("error: --mqtt-url: the broker URL must start with mqtt://")
    assert len(done.stderr.splitlines()) == 1
    assert "s3cret" not in done.stderr
