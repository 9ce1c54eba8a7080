"""The `kilowatch` command: one entry point, a subcommand per process or tool."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="kilowatch: electricity use and cost of industrial plants, meter by meter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="plant file (env KILOWATCH_CONFIG)")
]
MqttOption = Annotated[
    str | None, typer.Option("--mqtt-url", help="broker URL (env KILOWATCH_MQTT_URL)")
]


@app.callback()
def _group() -> None:
    """kilowatch: electricity use and cost of industrial plants, meter by meter."""


LogOption = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR")]


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _run(main: Callable[[], int]) -> None:
    """Run a command; a problem a person must fix becomes 'error: ...' and exit status 2."""
    from kilowatch.errors import USER_ERRORS

    try:
        code = main()
    except USER_ERRORS as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def bridge(
    config: ConfigOption = None,
    mqtt_url: MqttOption = None,
    influx_url: Annotated[
        str | None, typer.Option(help="InfluxDB URL (env KILOWATCH_INFLUX_URL)")
    ] = None,
    influx_bucket: Annotated[
        str | None, typer.Option(help="bucket or 1.x database (env KILOWATCH_INFLUX_BUCKET)")
    ] = None,
    influx_org: Annotated[
        str | None, typer.Option(help="organisation (2.x) (env KILOWATCH_INFLUX_ORG)")
    ] = None,
    influx_version: Annotated[
        str | None, typer.Option(help="auto, 1 or 2 (env KILOWATCH_INFLUX_VERSION)")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id (env KILOWATCH_MQTT_CLIENT_ID)")
    ] = None,
    share_group: Annotated[
        str | None,
        typer.Option(help="shared subscription group (env KILOWATCH_MQTT_SHARE_GROUP)"),
    ] = None,
    log_level: LogOption = "INFO",
) -> None:
    """Subscribe to readings, cost each one from its plant's tariff, store them in InfluxDB."""
    from kilowatch.bridge import BridgeSettings, run_bridge

    _setup_logging(log_level)
    flags: dict[str, Any] = {
        "config": config,
        "mqtt_url": mqtt_url,
        "influx_url": influx_url,
        "influx_bucket": influx_bucket,
        "influx_org": influx_org,
        "influx_version": influx_version,
        "mqtt_client_id": client_id,
        "mqtt_share_group": share_group,
    }
    _run(lambda: run_bridge(BridgeSettings.load(**flags)))


@app.command()
def simulate(
    config: ConfigOption = None,
    mqtt_url: MqttOption = None,
    plants: Annotated[
        int | None, typer.Option(help="synthetic fleet without --config: plants")
    ] = None,
    meters: Annotated[
        int | None, typer.Option(help="synthetic fleet without --config: meters per plant")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="synthetic fleet: the plants' IANA timezone")
    ] = None,
    holidays: Annotated[
        str | None, typer.Option(help="holiday country (ISO code), 'auto' or 'none'")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="same seed, same readings")] = None,
    interval: Annotated[int | None, typer.Option(help="seconds per reading (300)")] = None,
    backfill: Annotated[
        str | None, typer.Option(help="history to publish first: 30d, 12h, 90m")
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="replay the backfill this many times faster")
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="stop after this many readings per meter")
    ] = None,
    duration: Annotated[str | None, typer.Option(help="stop after running this long")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="readings per message when backfilling")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id (env KILOWATCH_MQTT_CLIENT_ID)")
    ] = None,
    log_level: LogOption = "INFO",
) -> None:
    """Publish realistic meter readings (shifts, machine cycles, 3-phase V/I) over MQTT."""
    from kilowatch.simulator import SimulatorSettings, run_simulator

    _setup_logging(log_level)
    flags: dict[str, Any] = {
        "config": config,
        "mqtt_url": mqtt_url,
        "plants": plants,
        "meters": meters,
        "timezone": timezone,
        "holidays_country": holidays,
        "seed": seed,
        "interval_s": interval,
        "backfill": backfill,
        "speed": speed,
        "count": count,
        "duration": duration,
        "batch_size": batch_size,
        "mqtt_client_id": client_id,
    }
    _run(lambda: run_simulator(SimulatorSettings.load(**flags)))


@app.command()
def agent(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="agent file (YAML) (env KILOWATCH_AGENT_CONFIG)"),
    ] = None,
    mqtt_url: MqttOption = None,
    log_level: LogOption = "INFO",
) -> None:
    """Poll meters (Modbus TCP or simulated), keep every reading in SQLite, deliver it once."""
    from kilowatch.agent.runner import run_agent
    from kilowatch.agent.settings import AgentSettings

    _setup_logging(log_level)
    _run(lambda: run_agent(AgentSettings.load(agent_config=config, mqtt_url=mqtt_url)))


def _add_subcommand_groups() -> None:
    from kilowatch.dashboards.cli import dashboards_app

    app.add_typer(dashboards_app, name="dashboards")


_add_subcommand_groups()


def main() -> None:
    app()
