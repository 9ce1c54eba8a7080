"""`kilowatch query KIND ...`: common questions about stored readings, as a table or a file.

kilowatch query energy --plant hmo --from 2026-10-01 --to 2026-11-01 --by line --every 1d
kilowatch query demand --plant sea --from 2026-10-01 --to 2026-11-01 --every 1mo --show-query
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from kilowatch.query import Query, Runner

app = typer.Typer(
    help="Energy, cost, demand, base load, top consumers, load profile, completeness and the "
    "bill so far, in the plant's local time, from InfluxDB (InfluxQL, Flux or SQL).",
    no_args_is_help=True,
)

TOKEN_ENV = "KILOWATCH_INFLUX_TOKEN"
KIND_HELP = {
    "energy": "Energy (kWh) or cost per bucket and group.",
    "demand": "Peak demand (kW): the largest 15-minute average power per bucket.",
    "base-load": "Base load (kW): the smallest hourly average power per bucket.",
    "top": "The largest consumers over the range, largest first.",
    "load-profile": "Average power (kW) by local hour of day.",
    "completeness": "Share of each bucket covered by stored readings (per meter by default).",
    "bill": "The bill so far per billing month (the bridge's running bill).",
}

Plants = Annotated[list[str], typer.Option("--plant", "-p", help="plant id (repeat for more)")]
Start = Annotated[str, typer.Option("--from", help="first day or time, plant-local: 2026-10-01")]
End = Annotated[str, typer.Option("--to", help="end day or time, excluded (plant-local)")]
By = Annotated[str | None, typer.Option(help="one column per plant, line, meter or period (TOU)")]
Every = Annotated[str | None, typer.Option(help="bucket: 15m, 1h, 1d (local days), 1mo")]
Where = Annotated[
    list[str] | None, typer.Option(help="keep only TAG=VALUE (line, meter, period); repeatable")
]
Sum = Annotated[str | None, typer.Option("--sum", help="energy and top: energy_kwh or cost")]
Value = Annotated[str | None, typer.Option(help="bill: total, energy_cost, demand_charge...")]
Count = Annotated[int, typer.Option("--n", help="top: how many")]
Window = Annotated[str | None, typer.Option(help="demand, base load: window length (15m, 1h)")]
Zone = Annotated[str | None, typer.Option("--tz", help="IANA zone instead of the plant's")]
DEFAULT_PLANT_FILE = Path("config/kilowatch.example.yaml")
Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="KILOWATCH_CONFIG",
        help=f"plant file (env KILOWATCH_CONFIG) [default: {DEFAULT_PLANT_FILE}, unless --tz]",
    ),
]
DialectOpt = Annotated[
    str, typer.Option("--dialect", help="influxql (1.x, 2.x v1 API, 3.x), flux (2.x), sql (3.x)")
]
# --influx-*: the names bill, recost and etl use for the same settings.
Url = Annotated[
    str,
    typer.Option(
        "--url",
        "--influx-url",
        envvar="KILOWATCH_INFLUX_URL",
        help="InfluxDB URL (env KILOWATCH_INFLUX_URL)",
    ),
]
Bucket = Annotated[
    str,
    typer.Option(
        "--database",
        "--bucket",
        "--influx-bucket",
        envvar="KILOWATCH_INFLUX_BUCKET",
        help="database (1.x, 3.x) or bucket (2.x)",
    ),
]
Org = Annotated[
    str,
    typer.Option("--org", "--influx-org", envvar="KILOWATCH_INFLUX_ORG", help="organisation (2.x)"),
]
NoBind = Annotated[
    bool, typer.Option("--no-bind", help="InfluxQL: escaped literals instead of bound params")
]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="write CSV or Parquet here")]
Show = Annotated[
    bool, typer.Option("--show-query", help="print the query in every dialect and stop")
]


def _build(kind: str, options: dict[str, Any]) -> Query:
    """The Query the command line asks for."""
    from kilowatch.query import Query, QueryError

    plants: list[str] = options["plant"]
    plant: str | list[str] | None = plants[0] if len(plants) == 1 else plants or None
    if kind == "top":
        query = Query.top(plant, n=options["n"], by=options["by"] or "meter")
    elif kind == "bill":
        if not isinstance(plant, str):
            raise QueryError("bill needs exactly one --plant")
        query = Query.bill(plant).by(options["by"])
    else:
        starts: dict[str, Callable[..., Query]] = {
            "energy": Query.energy,
            "demand": Query.demand,
            "base-load": Query.base_load,
            "load-profile": Query.load_profile,
            "completeness": Query.completeness,
        }
        query = starts[kind](plant)
        if kind in ("demand", "base-load") and options["window"]:
            query = starts[kind](plant, window=options["window"])
        if options["by"] is not None or kind != "completeness":
            query = query.by(options["by"])
        if options["every"] is not None:
            query = query.every(options["every"])
    query = query.between(options["start"], options["end"])
    for condition in options["where"] or []:
        tag, sep, value = condition.partition("=")
        if not sep:
            raise QueryError(f"--where {condition!r}: write TAG=VALUE, e.g. --where line=press")
        query = query.where(**{tag.strip(): value})
    if options["sum"] is not None:
        query = query.sum(options["sum"])
    if options["value"] is not None:
        query = query.value(options["value"])
    if options["tz"] is not None:
        query = query.tz(options["tz"])
    config = options["config"]
    if config is None and options["tz"] is None:
        config = DEFAULT_PLANT_FILE  # as bill, recost, etl and the bridge default to it
    if config is not None:
        query = query.using(config)
    return query


def _runner(options: dict[str, Any]) -> Runner:
    from kilowatch.query import FluxRunner, InfluxQLRunner, QueryError, SqlRunner

    token = os.environ.get(TOKEN_ENV, "")
    dialect, url, bucket = options["dialect"], options["url"], options["database"]
    if dialect == "influxql":
        return InfluxQLRunner(url, bucket, token=token, bind=not options["no_bind"])
    if dialect == "flux":
        return FluxRunner(url, options["org"], bucket, token=token)
    if dialect == "sql":
        return SqlRunner(url, bucket, token=token)
    raise QueryError(f"--dialect {dialect!r}: choose influxql, flux or sql")


def _show(query: Query, bucket: str) -> None:
    from kilowatch.query import DIALECTS

    for dialect in DIALECTS:
        rendered = query.render(dialect, bucket=bucket)
        typer.echo(f"-- {dialect}")
        typer.echo(rendered.text.rstrip("\n"))
        if rendered.params:
            typer.echo(f"-- params: {rendered.params}")
        typer.echo("")


def _print_table(frame: pd.DataFrame) -> None:
    from rich.console import Console
    from rich.table import Table

    if frame.empty:
        typer.echo("no stored readings match this query (check the plant, range and filters)")
        return
    table = Table(title=_described(frame))
    rows = [
        (str(label), ["" if value != value else f"{value:,.3f}" for value in row.tolist()])
        for label, row in frame.iterrows()
    ]
    table.add_column(str(frame.index.name or ""), no_wrap=True)
    for column in frame.columns:
        table.add_column(str(column), justify="right", no_wrap=True)
    for label, cells in rows:
        table.add_row(label, *cells)
    console = Console()
    # As wide as the table needs, never narrower: rich would otherwise cut numbers ("13,8…").
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    Console(width=max(console.width, natural)).print(table)


def _described(frame: pd.DataFrame) -> str:
    """What the numbers are: 'energy_kwh (kWh), America/Hermosillo'."""
    attrs = frame.attrs
    return f"{attrs.get('value', '')} ({attrs.get('unit', '')}), {attrs.get('timezone', '')}"


OUT_SUFFIXES = (".csv", ".parquet")
# 12 significant digits: sums lose their binary noise (227.88625, not 227.88625000000002).
CSV_FLOAT = "%.12g"


def _check_out(out: Path | None) -> None:
    from kilowatch.query import QueryError

    if out is None:
        return
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise QueryError(f"--out {out}: the file name must end in .csv or .parquet")
    if not out.parent.is_dir():  # found before the query runs, not after
        raise QueryError(f"--out {out}: the folder {out.parent} does not exist")


def _write(frame: pd.DataFrame, out: Path) -> None:
    if out.suffix.lower() == ".csv":
        frame.to_csv(out, float_format=CSV_FLOAT)
    else:
        frame.to_parquet(out)
    typer.echo(f"wrote {len(frame)} rows of {_described(frame)} to {out}", err=True)


def _execute(kind: str, options: dict[str, Any]) -> None:
    from kilowatch.config import ConfigError
    from kilowatch.query import QueryError, QueryRunError, run

    try:
        query = _build(kind, options)
        _check_out(options["out"])
        if options["show_query"]:
            _show(query, options["database"])
            return
        runner = _runner(options)
        try:
            frame = run(runner, query)
        finally:
            runner.close()
        if options["out"] is not None:
            _write(frame, options["out"])
        else:
            _print_table(frame)
    except (QueryError, QueryRunError, ConfigError, OSError) as err:
        message = str(err).splitlines()[0] if str(err) else repr(err)
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None


def _command(kind: str) -> Callable[..., None]:
    def command(
        plant: Plants,
        start: Start,
        end: End,
        by: By = None,
        every: Every = None,
        where: Where = None,
        sum: Sum = None,
        value: Value = None,
        n: Count = 10,
        window: Window = None,
        tz: Zone = None,
        config: Config = None,
        dialect: DialectOpt = "influxql",
        url: Url = "http://localhost:8086",
        database: Bucket = "kilowatch",
        org: Org = "kilowatch",
        no_bind: NoBind = False,
        out: Out = None,
        show_query: Show = False,
    ) -> None:
        _execute(kind, dict(locals()))

    command.__doc__ = KIND_HELP[kind]
    command.__name__ = kind.replace("-", "_")
    return command


for _kind in KIND_HELP:
    app.command(_kind)(_command(_kind))
