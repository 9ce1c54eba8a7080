"""The main typer app: the process commands, and the registration of every command group."""

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
    from kilowatch.agent import AgentSettings, run_agent

    _setup_logging(log_level)
    _run(lambda: run_agent(AgentSettings.load(agent_config=config, mqtt_url=mqtt_url)))


InfluxUrlOption = Annotated[
    str | None, typer.Option(help="InfluxDB URL (env KILOWATCH_INFLUX_URL)")
]
InfluxBucketOption = Annotated[
    str | None, typer.Option(help="bucket, or 1.x database (env KILOWATCH_INFLUX_BUCKET)")
]
TariffOption = Annotated[
    Path | None, typer.Option(help="cost with this tariff file instead of the plant's")
]


@app.command()
def bill(
    plant: Annotated[str, typer.Option(help="plant id from the plant file")],
    period: Annotated[str, typer.Option(help="billing period, e.g. 2026-10")],
    config: ConfigOption = None,
    meter: Annotated[str | None, typer.Option(help="one meter alone")] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    chart: Annotated[
        Path | None, typer.Option(help="also draw daily cost and demand to this PNG")
    ] = None,
    tariff: TariffOption = None,
    influx_url: InfluxUrlOption = None,
    influx_bucket: InfluxBucketOption = None,
    log_level: LogOption = "WARNING",
) -> None:
    """Print a plant's (or meter's) bill line by line, as the utility bills it."""
    from kilowatch.cli.billing import BillingSettings, run_bill

    _setup_logging(log_level)
    if output not in ("table", "json", "csv"):
        typer.echo(f"error: --format must be table, json or csv, not {output!r}", err=True)
        raise typer.Exit(2)

    def main() -> int:
        settings = BillingSettings.load(
            config=config, influx_url=influx_url, influx_bucket=influx_bucket
        )
        return run_bill(
            config=settings.config,
            plant=plant,
            period=period,
            influx=settings.source,
            meter=meter,
            output=output,  # type: ignore[arg-type]
            chart=chart,
            tariff=tariff,
        )

    _run(main)


@app.command()
def recost(
    plant: Annotated[str, typer.Option(help="plant id from the plant file")],
    start: Annotated[
        str, typer.Option("--from", help="first instant: 2026-10-01, 2026-10-01T06:30 (local)")
    ],
    end: Annotated[str, typer.Option("--to", help="end instant, excluded (plant-local)")],
    config: ConfigOption = None,
    tariff: TariffOption = None,
    influx_url: InfluxUrlOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_org: Annotated[
        str | None, typer.Option(help="organisation (2.x) (env KILOWATCH_INFLUX_ORG)")
    ] = None,
    influx_version: Annotated[
        str | None, typer.Option(help="auto, 1 or 2 (env KILOWATCH_INFLUX_VERSION)")
    ] = None,
    log_level: LogOption = "INFO",
) -> None:
    """Cost stored readings again (a tariff changed, late data came), rewriting them in place."""
    from kilowatch.cli.billing import BillingSettings, run_recost

    _setup_logging(log_level)

    def main() -> int:
        settings = BillingSettings.load(
            config=config,
            influx_url=influx_url,
            influx_bucket=influx_bucket,
            influx_org=influx_org,
            influx_version=influx_version,
        )
        return run_recost(
            config=settings.config,
            plant=plant,
            start=start,
            end=end,
            influx=settings.source,
            tariff=tariff,
            org=settings.influx_org,
            influx_version=settings.influx_version,
        )

    _run(main)


@app.command("import-urdb")
def import_urdb(
    source: Annotated[Path, typer.Argument(help="URDB rate document (JSON)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="tariff file to write")] = None,
    tariff_id: Annotated[str | None, typer.Option("--id", help="tariff id")] = None,
    version: Annotated[str | None, typer.Option(help="tariff version")] = None,
) -> None:
    """Turn an OpenEI Utility Rate Database tariff (JSON) into a kilowatch tariff file."""
    from kilowatch.cli.billing import run_import_urdb

    _run(lambda: run_import_urdb(source, out, tariff_id, version))


def _add_subcommand_groups() -> None:
    from kilowatch.dashboards.cli import dashboards_app

    app.add_typer(dashboards_app, name="dashboards")
    app.add_typer(__import__("kilowatch.cli.sfn", fromlist=["app"]).app, name="sfn")
    app.add_typer(__import__("kilowatch.cli.aws", fromlist=["app"]).app, name="aws")
    app.add_typer(__import__("kilowatch.cli.etl", fromlist=["app"]).app, name="etl")
    app.add_typer(__import__("kilowatch.cli.query", fromlist=["app"]).app, name="query")
    app.add_typer(__import__("kilowatch.cli.alerts", fromlist=["app"]).app, name="alerts")


_add_subcommand_groups()


def main() -> None:
    app()
