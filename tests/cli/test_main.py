"""The help of the process commands states each setting's default as the settings class has it
(the defaults live in the settings classes; the help repeats them, so a test keeps them equal)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from kilowatch.bridge import BridgeSettings
from kilowatch.cli import app
from kilowatch.cli.billing import BillingSettings
from kilowatch.simulator import SimulatorSettings
from kilowatch.simulator.settings import DEFAULT_PLANT_FILE


def help_of(command: str, option: str) -> str:
    root = typer.main.get_command(app)
    params = root.commands[command].params  # type: ignore[attr-defined]
    return next(p.help for p in params if option in p.opts)


def default_in(help_text: str) -> str:
    found = re.search(r"\[default: ([^\],]+)", help_text)
    assert found, help_text
    return found.group(1).strip()


@pytest.mark.parametrize(
    ("command", "option", "settings", "field"),
    [
        ("bridge", "--config", BridgeSettings, "config"),
        ("bridge", "--mqtt-url", BridgeSettings, "mqtt_url"),
        ("bridge", "--influx-url", BridgeSettings, "influx_url"),
        ("bridge", "--influx-bucket", BridgeSettings, "influx_bucket"),
        ("bridge", "--influx-org", BridgeSettings, "influx_org"),
        ("bridge", "--influx-version", BridgeSettings, "influx_version"),
        ("bridge", "--client-id", BridgeSettings, "mqtt_client_id"),
        ("bill", "--config", BillingSettings, "config"),
        ("recost", "--influx-url", BillingSettings, "influx_url"),
        ("simulate", "--client-id", SimulatorSettings, "mqtt_client_id"),
        ("simulate", "--plants", SimulatorSettings, "plants"),
        ("simulate", "--meters", SimulatorSettings, "meters"),
        ("simulate", "--timezone", SimulatorSettings, "timezone"),
        ("simulate", "--seed", SimulatorSettings, "seed"),
        ("simulate", "--interval", SimulatorSettings, "interval_s"),
        ("simulate", "--batch-size", SimulatorSettings, "batch_size"),
    ],
)
def test_help_defaults_are_the_settings_defaults(
    command: str, option: str, settings: Any, field: str
) -> None:
    assert default_in(help_of(command, option)) == str(settings.model_fields[field].default)


def test_simulate_and_bridge_default_to_the_same_plant_file() -> None:
    assert default_in(help_of("simulate", "--config")) == str(DEFAULT_PLANT_FILE)
    assert BridgeSettings.model_fields["config"].default == DEFAULT_PLANT_FILE
