"""The help of the process commands states each setting's default as the settings class has it
(the defaults live in the settings classes; the help repeats them, so a test keeps them equal)."""

from __future__ import annotations

import re
from pathlib import Path
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


def test_recost_help_keeps_each_sentence_on_one_line() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["recost", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich's box-drawing aside, words in order
    assert "deletes only the old points it read." in text
    # No sentence split by a hard line break: every help line of the docstring ends one.
    lines = [line.strip(" │") for line in result.output.splitlines()]
    assert any(line.rstrip().endswith("the old points it read.") for line in lines), lines


def test_import_urdb_says_what_it_wrote(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    source = Path(__file__).parents[2] / "config/tariffs/urdb/56bbe2205457a34d2a8b456a.json"
    out = tmp_path / "sce.yaml"
    result = CliRunner().invoke(
        app, ["import-urdb", str(source), "-o", str(out), "--id", "sce", "--tariff-version", "1"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out} (tariff ID sce, version 1)"
    assert out.exists()
