"""The main typer app: the process commands, and the registration of every command group."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_LOG_LEVEL = "INFO"


def _caught(name: str) -> tuple[type[BaseException], ...]:
    """click's exception class `name`, and typer's own copy of it: recent typer releases run
    a vendored click (typer._click), whose exceptions are not click's."""
    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    for module in ("typer._click.exceptions", "typer.exceptions"):
        try:
            copy = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(copy, type) and issubclass(copy, BaseException) and copy not in found:
            found.append(copy)
    return tuple(found)


NO_ARGS_HELP, USAGE_ERROR, CLICK_ERROR, ABORT = (
    _caught(name) for name in ("NoArgsIsHelpError", "UsageError", "ClickException", "Abort")
)


def _fail(sentence: str) -> NoReturn:
    """A person's mistake: one line on stderr, exit status 2."""
    typer.echo(f"error: {sentence}", err=True)
    raise SystemExit(2)


def _one_line(text: str) -> str:
    """A multi-line error (a heading, then one problem per line) as one line."""
    heading, *problems = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return f"{heading} {'; '.join(problems)}" if problems else heading


def _usage_sentence(err: click.UsageError) -> str:
    """click's 'Missing option '--period'.' as 'missing option '--period' (see ... --help)'."""
    message = plain_words(_one_line(err.format_message())).rstrip(".")
    where = err.ctx.command_path if err.ctx is not None else "kilowatch"
    return f"{message[:1].lower()}{message[1:]} (see {where} --help)"


def plain_words(message: str) -> str:
    """pydantic's wording (which typer's type checks now use) in plain words."""
    for unclear, plain in (
        (", unable to parse string as an integer", ""),
        (", unable to parse string as a number", ""),
        ("Input should be a valid integer", "must be a whole number"),
        ("Input should be a valid number", "must be a number"),
        ("Input should be", "must be"),
    ):
        message = message.replace(unclear, plain)
    return message


class _App(typer.Typer):
    """The typer app, run so that a person's mistake is one `error: ...` line and exit 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().__call__(*args, **kwargs)
        try:
            code = super().__call__(*args, **{**kwargs, "standalone_mode": False})
        except NO_ARGS_HELP as err:
            typer.echo(err.format_message())  # type: ignore[attr-defined]
            raise SystemExit(0) from None
        except USAGE_ERROR as err:
            _fail(_usage_sentence(err))  # type: ignore[arg-type]
        except CLICK_ERROR as err:
            _fail(_one_line(err.format_message()))  # type: ignore[attr-defined]
        except ABORT:
            raise SystemExit(130) from None
        except OSError as err:
            # A path the person gave that cannot be written or read (every command, every group).
            if err.filename is None or err.strerror is None:
                raise
            _fail(f"{err.filename}: {err.strerror.lower()}")
        raise SystemExit(code if isinstance(code, int) else 0)


app = _App(
    help="kilowatch: electricity use and cost of industrial plants, meter by meter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULT_PLANT_FILE = "config/kilowatch.example.yaml"
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"plant file [default: {DEFAULT_PLANT_FILE}] (env KILOWATCH_CONFIG)",
    ),
]
MqttOption = Annotated[
    str | None,
    typer.Option(
        "--mqtt-url",
        help="broker URL [default: mqtt://localhost:1883] (env KILOWATCH_MQTT_URL)",
    ),
]
InfluxUrlOption = Annotated[
    str | None,
    typer.Option(
        help="InfluxDB URL [default: http://localhost:8086] (env KILOWATCH_INFLUX_URL; "
        "token: env KILOWATCH_INFLUX_TOKEN)"
    ),
]
InfluxBucketOption = Annotated[
    str | None,
    typer.Option(help="bucket, or 1.x database [default: kilowatch] (env KILOWATCH_INFLUX_BUCKET)"),
]
InfluxOrgOption = Annotated[
    str | None,
    typer.Option(help="organisation (2.x) [default: kilowatch] (env KILOWATCH_INFLUX_ORG)"),
]
InfluxVersionOption = Annotated[
    str | None,
    typer.Option(help="auto (from /ping), 1 or 2 [default: auto] (env KILOWATCH_INFLUX_VERSION)"),
]


def _print_version(wanted: bool) -> None:
    if wanted:
        from kilowatch import __version__

        typer.echo(f"kilowatch {__version__}")
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """kilowatch: electricity use and cost of industrial plants, meter by meter."""


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise typer.BadParameter(f"must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
    return level


LogOption = Annotated[
    str,
    typer.Option("--log-level", callback=_log_level, help="DEBUG, INFO, WARNING or ERROR"),
]


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _run(main: Callable[[], int], ctx: typer.Context | None = None) -> None:
    """Run a command; a problem a person must fix becomes 'error: ...' and exit status 2."""
    from kilowatch.errors import USER_ERRORS
    from kilowatch.settings import SettingsError

    try:
        code = main()
    except SettingsError as err:
        typer.echo(f"error: {_settings_sentence(err, ctx)}", err=True)
        raise typer.Exit(2) from None
    except USER_ERRORS as err:
        typer.echo(f"error: {_one_line(str(err))}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _settings_sentence(err: Any, ctx: typer.Context | None) -> str:
    """Wrong settings in one line, each named as the person gave it: the flag, or the env var."""
    if not err.problems:
        return _one_line(str(err))
    flags = {
        param.name: next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
        for param in (ctx.command.params if ctx is not None else [])
        if param.name
    }
    named = [
        f"{flags[field] if given and field in flags else 'KILOWATCH_' + field.upper()}: {message}"
        for field, message, given in err.problems
    ]
    return "; ".join(named)


@app.command()
def bridge(
    ctx: typer.Context,
    config: ConfigOption = None,
    mqtt_url: MqttOption = None,
    influx_url: InfluxUrlOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_org: InfluxOrgOption = None,
    influx_version: InfluxVersionOption = None,
    mqtt_client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="MQTT client id [default: kilowatch-bridge] (env KILOWATCH_MQTT_CLIENT_ID)",
        ),
    ] = None,
    mqtt_share_group: Annotated[
        str | None,
        typer.Option(
            "--share-group",
            help="shared subscription group [default: none] (env KILOWATCH_MQTT_SHARE_GROUP)",
        ),
    ] = None,
    log_level: LogOption = DEFAULT_LOG_LEVEL,
) -> None:
    """Subscribe to readings, cost each one from its plant's tariff, store them in InfluxDB.

    The InfluxDB token (2.x/3.x, or 1.x with auth) is read from KILOWATCH_INFLUX_TOKEN.

    Every other setting is in kilowatch/bridge/README.md.
    """
    from kilowatch.bridge import BridgeSettings, run_bridge

    _setup_logging(log_level)
    flags: dict[str, Any] = {
        "config": config,
        "mqtt_url": mqtt_url,
        "influx_url": influx_url,
        "influx_bucket": influx_bucket,
        "influx_org": influx_org,
        "influx_version": influx_version,
        "mqtt_client_id": mqtt_client_id,
        "mqtt_share_group": mqtt_share_group,
    }
    _run(lambda: run_bridge(BridgeSettings.load(**flags)), ctx)


@app.command()
def simulate(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help=f"plant file whose meters to simulate [default: {DEFAULT_PLANT_FILE}, as the "
            "bridge; a synthetic fleet with --plants/--meters] (env KILOWATCH_CONFIG)",
        ),
    ] = None,
    mqtt_url: MqttOption = None,
    plants: Annotated[
        int | None, typer.Option(help="a synthetic fleet of this many plants [default: 2]")
    ] = None,
    meters: Annotated[
        int | None, typer.Option(help="a synthetic fleet: meters per plant [default: 6]")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="synthetic fleet: the plants' IANA timezone [default: America/Mexico_City]"
        ),
    ] = None,
    holidays_country: Annotated[
        str | None,
        typer.Option(
            "--holidays", help="holiday country (ISO code), 'auto' or 'none' [default: auto]"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="same seed, same readings [default: 0]")] = None,
    interval_s: Annotated[
        int | None, typer.Option("--interval", help="seconds per reading [default: 300]")
    ] = None,
    backfill: Annotated[
        str | None,
        typer.Option(help="history to publish first: 30d, 12h, 90m [default: none]"),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(help="replay the backfill this many times faster [default: 1, at once]"),
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="stop after this many readings per meter [default: never]")
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="stop after running this long: 1h, 2d [default: never]")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="readings per message when backfilling [default: 500]")
    ] = None,
    mqtt_client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="MQTT client id [default: kilowatch-simulator] (env KILOWATCH_MQTT_CLIENT_ID)",
        ),
    ] = None,
    modbus: Annotated[
        int | None,
        typer.Option(
            help="instead of MQTT, serve the meters over Modbus TCP on this port (for the agent)"
        ),
    ] = None,
    modbus_host: Annotated[str, typer.Option(help="address the Modbus server listens on")] = (
        "127.0.0.1"
    ),
    modbus_map: Annotated[
        str, typer.Option(help="register map of the served meters (kilowatch/registers/meter_maps)")
    ] = "eastron_sdm630",
    log_level: LogOption = DEFAULT_LOG_LEVEL,
) -> None:
    """Publish realistic meter readings (shifts, machine cycles, 3-phase V/I) over MQTT.

    With no options: the meters of the plant file the bridge reads by default, as it expects.

    With --modbus PORT: the meters on their real register maps, for `kilowatch agent` to poll.
    """
    from kilowatch.simulator import SimulatorSettings, run_modbus_server, run_simulator

    _setup_logging(log_level)
    flags: dict[str, Any] = {
        "config": config,
        "mqtt_url": mqtt_url,
        "plants": plants,
        "meters": meters,
        "timezone": timezone,
        "holidays_country": holidays_country,
        "seed": seed,
        "interval_s": interval_s,
        "backfill": backfill,
        "speed": speed,
        "count": count,
        "duration": duration,
        "batch_size": batch_size,
        "mqtt_client_id": mqtt_client_id,
    }
    if modbus is not None:
        from kilowatch.registers import MapError, load_map

        try:
            layout = load_map(modbus_map)
        except MapError as err:
            _fail(f"--modbus-map: {_one_line(str(err))}")
        _run(
            lambda: run_modbus_server(
                SimulatorSettings.load(**flags), modbus_host, modbus, layout, modbus_map
            ),
            ctx,
        )
    else:
        _run(lambda: run_simulator(SimulatorSettings.load(**flags)), ctx)


@app.command()
def agent(
    ctx: typer.Context,
    agent_config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="agent file (YAML) [default: agent.yaml] (env KILOWATCH_AGENT_CONFIG)",
        ),
    ] = None,
    mqtt_url: MqttOption = None,
    log_level: LogOption = DEFAULT_LOG_LEVEL,
) -> None:
    """Poll meters (Modbus TCP or simulated), keep every reading in SQLite, deliver it once."""
    from kilowatch.agent import AgentSettings, run_agent

    _setup_logging(log_level)
    _run(lambda: run_agent(AgentSettings.load(agent_config=agent_config, mqtt_url=mqtt_url)), ctx)


TariffOption = Annotated[
    Path | None,
    typer.Option(help="cost with this tariff file instead of the plant's [default: the plant's]"),
]
PlantOption = Annotated[str, typer.Option(help="plant id from the plant file")]


@app.command()
def bill(
    ctx: typer.Context,
    plant: PlantOption,
    period: Annotated[
        str, typer.Option(help="billing period: 2026-10, or 'current' for the one in progress")
    ],
    config: ConfigOption = None,
    meter: Annotated[
        str | None, typer.Option(help="one meter alone [default: the whole plant]")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    chart: Annotated[
        Path | None,
        typer.Option(help="also draw daily cost and demand to this PNG file (or into this folder)"),
    ] = None,
    tariff: TariffOption = None,
    influx_url: InfluxUrlOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_org: InfluxOrgOption = None,
    influx_version: InfluxVersionOption = None,
    log_level: LogOption = DEFAULT_LOG_LEVEL,
) -> None:
    """Print a plant's (or meter's) bill line by line, as the utility bills it.

    The InfluxDB token (2.x/3.x, or 1.x with auth) is read from KILOWATCH_INFLUX_TOKEN.
    """
    from kilowatch.cli.billing import BillingSettings, check_chart_path, run_bill

    _setup_logging(log_level)
    if output not in ("table", "json", "csv"):
        _fail(f"--format must be table, json or csv, not {output!r}")

    def main() -> int:
        settings = BillingSettings.load(
            config=config,
            influx_url=influx_url,
            influx_bucket=influx_bucket,
            influx_org=influx_org,
            influx_version=influx_version,
        )
        return run_bill(
            config=settings.config,
            plant=plant,
            period=period,
            influx=settings.source,
            meter=meter,
            output=output,  # type: ignore[arg-type]
            chart=None if chart is None else check_chart_path(chart, plant, period),
            tariff=tariff,
        )

    _run(main, ctx)


@app.command()
def recost(
    ctx: typer.Context,
    plant: PlantOption,
    start: Annotated[
        str, typer.Option("--from", help="first instant: 2026-10-01, 2026-10-01T06:30 (local)")
    ],
    end: Annotated[str, typer.Option("--to", help="end instant, excluded (plant-local)")],
    config: ConfigOption = None,
    meter: Annotated[
        str | None, typer.Option(help="one meter alone [default: every meter]")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="change nothing: print the cost before and after, per meter"
        ),
    ] = False,
    tariff: TariffOption = None,
    influx_url: InfluxUrlOption = None,
    influx_bucket: InfluxBucketOption = None,
    influx_org: InfluxOrgOption = None,
    influx_version: InfluxVersionOption = None,
    log_level: LogOption = DEFAULT_LOG_LEVEL,
) -> None:
    """Cost stored readings again (a tariff changed, late data came), rewriting them in place.

    Safe while the bridge runs: it writes the new points, then deletes only the old points it read.

    The InfluxDB token is read from KILOWATCH_INFLUX_TOKEN.
    """
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
            meter=meter,
            dry_run=dry_run,
            progress=sys.stderr.isatty(),
        )

    _run(main, ctx)


@app.command("import-urdb")
def import_urdb(
    source: Annotated[Path, typer.Argument(help="URDB rate document (JSON)")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="tariff file to write [default: stdout]")
    ] = None,
    tariff_id: Annotated[
        str | None, typer.Option("--id", help="tariff id [default: urdb-<the URDB label>]")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--tariff-version", help="tariff version [default: the URDB start date]"),
    ] = None,
) -> None:
    """Turn an OpenEI Utility Rate Database tariff (JSON) into a kilowatch tariff file."""
    from kilowatch.cli.billing import run_import_urdb

    _run(lambda: run_import_urdb(source, out, tariff_id, version))


def _add_subcommand_groups() -> None:
    app.add_typer(__import__("kilowatch.cli.dashboards", fromlist=["app"]).app, name="dashboards")
    app.add_typer(__import__("kilowatch.cli.sfn", fromlist=["app"]).app, name="sfn")
    app.add_typer(__import__("kilowatch.cli.aws", fromlist=["app"]).app, name="aws")
    app.add_typer(__import__("kilowatch.cli.etl", fromlist=["app"]).app, name="etl")
    app.add_typer(__import__("kilowatch.cli.query", fromlist=["app"]).app, name="query")
    app.add_typer(__import__("kilowatch.cli.alerts", fromlist=["app"]).app, name="alerts")


_add_subcommand_groups()


def main() -> None:
    app()
