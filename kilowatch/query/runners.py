"""Runners: send a rendered query to a server and hand its rows to the shaping.

- `InfluxQLRunner`: InfluxQL over HTTP `/query` (1.x; 2.x and 3.x through their v1 API).
- `FluxRunner`: Flux through influxdb-client's `query_data_frame` (2.x).
- `SqlRunner`: SQL through influxdb3-python (3.x, Arrow Flight).
- `DuckDBRunner`, `DataFusionRunner`: the same SQL on DuckDB or on DataFusion (InfluxDB 3's
  engine), over tables laid out as InfluxDB 3 stores measurements.

All return the same DataFrame for the same query (see `kilowatch.query.shape`).
"""

from __future__ import annotations

import importlib
import itertools
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd
import requests

from kilowatch.influx.writer import auth_headers
from kilowatch.query.flux import render_flux
from kilowatch.query.influxql import render_influxql
from kilowatch.query.model import Query
from kilowatch.query.plan import END_STAMP_SHIFT_S, Dialect, Plan, Rendered
from kilowatch.query.shape import BILLING_PERIOD, TAG, TIME, VALUE, empty_long, shape
from kilowatch.query.sql import quote_string, render_sql
from kilowatch.reasons import network_reason

NS_PER_S = 1_000_000_000


class QueryRunError(Exception):
    """The server refused or failed the query; the message carries its answer."""


class Runner(Protocol):
    dialect: Dialect

    def render(self, plan: Plan) -> Rendered:
        """The plan in this runner's dialect."""

    def rows(self, plan: Plan, rendered: Rendered) -> pd.DataFrame:
        """The server's answer as the long frame `shape` reads."""

    def close(self) -> None:
        """Release connections."""


def run(runner: Runner, query: Query) -> pd.DataFrame:
    """Render, execute and shape a query with this runner."""
    plan = query.plan()
    return shape(plan, runner.rows(plan, runner.render(plan)))


def _unshift(plan: Plan, times_ns: np.ndarray) -> np.ndarray:
    """InfluxQL and Flux label buckets start + 1 s (the end-stamp shift): back to the start."""
    if plan.measurement != "energy" or plan.bucket is None:
        return times_ns
    return times_ns - END_STAMP_SHIFT_S * NS_PER_S


class InfluxQLRunner:
    """InfluxQL over HTTP: `url` of InfluxDB 1.x (or 2.x/3.x's v1 API), `database` to read.

    `token`: `user:password` (1.x) or an API token. `bind=False` writes values as escaped
    literals for servers that do not take `params` (bound parameters).
    """

    dialect: Dialect = "influxql"

    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str = "",
        bind: bool = True,
        timeout_s: float = 120.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.bind = bind
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers.update(auth_headers(token))

    def render(self, plan: Plan) -> Rendered:
        return render_influxql(plan, bind=self.bind)

    def fetch(self, rendered: Rendered) -> dict[str, Any]:
        """POST the query; InfluxDB's JSON answer (times in Unix seconds: buckets start on
        whole seconds)."""
        form = {"db": self.database, "q": rendered.text, "epoch": "s"}
        if rendered.params:
            form["params"] = orjson.dumps(rendered.params).decode()
        try:
            response = self._session.post(f"{self.url}/query", data=form, timeout=self.timeout_s)
        except requests.RequestException as err:
            raise QueryRunError(
                f"InfluxDB at {self.url} did not answer ({network_reason(err)}); check the URL "
                "(KILOWATCH_INFLUX_URL) and that InfluxDB runs"
            ) from None
        try:
            body: dict[str, Any] = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = {"error": response.text.strip()[:500]}
        error = body.get("error") or next(
            (r["error"] for r in body.get("results", []) if "error" in r), None
        )
        if response.status_code >= 300 or error:
            raise QueryRunError(
                f"InfluxDB at {self.url} refused the query (HTTP {response.status_code}): {error}"
            )
        return body

    def rows(self, plan: Plan, rendered: Rendered) -> pd.DataFrame:
        return influxql_rows(plan, self.fetch(rendered))

    def close(self) -> None:
        self._session.close()


def _numbers(data: list[list[Any]], columns: list[str], count: int) -> np.ndarray:
    """A series' rows as a (count, 2) float array of time and value; None becomes NaN."""
    if columns == ["time", VALUE]:
        try:  # the usual case, in one pass in C
            flat = np.fromiter(itertools.chain.from_iterable(data), np.float64, 2 * count)
            return flat.reshape(count, 2)
        except TypeError:  # a null value
            pass
    t_col, v_col = columns.index("time"), columns.index(VALUE)
    return np.array(
        [(row[t_col], np.nan if row[v_col] is None else row[v_col]) for row in data],
        dtype=np.float64,
    ).reshape(count, 2)


def influxql_rows(plan: Plan, body: Mapping[str, Any]) -> pd.DataFrame:
    """InfluxDB's /query JSON (epoch=s) as the long frame: one block of rows per series."""
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    tags: list[np.ndarray] = []
    periods: list[np.ndarray] = []
    for result in body.get("results", []):
        for series in result.get("series", []):
            data = series["values"]
            if not data:
                continue
            count = len(data)
            table = _numbers(data, series["columns"], count)
            # Times are whole seconds (epoch=s), which float64 holds exactly.
            times.append(table[:, 0].astype(np.int64) * NS_PER_S)
            values.append(table[:, 1])
            series_tags = series.get("tags") or {}
            if plan.group is not None:
                tags.append(np.full(count, series_tags.get(plan.group, ""), dtype=object))
            if plan.aggregate == "last":
                periods.append(np.full(count, series_tags.get(BILLING_PERIOD, ""), dtype=object))
    if not times:
        return empty_long(plan)
    frame = pd.DataFrame(
        {TIME: _unshift(plan, np.concatenate(times)), VALUE: np.concatenate(values)}
    )
    if tags:
        frame[TAG] = np.concatenate(tags)
    if periods:
        frame[BILLING_PERIOD] = np.concatenate(periods)
    return frame


class FluxRunner:
    """Flux on InfluxDB 2.x through influxdb-client (`query_data_frame`)."""

    dialect: Dialect = "flux"

    def __init__(
        self, url: str, org: str, bucket: str, *, token: str = "", timeout_s: float = 120.0
    ) -> None:
        from influxdb_client import InfluxDBClient

        self.url = url
        self.bucket = bucket
        self.org = org
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout_s * 1000))

    def render(self, plan: Plan) -> Rendered:
        return render_flux(plan, self.bucket)

    def rows(self, plan: Plan, rendered: Rendered) -> pd.DataFrame:
        from influxdb_client.client.warnings import MissingPivotFunction

        try:
            with warnings.catch_warnings():
                # The shaping pivots by itself: influxdb-client's advice to add pivot() is moot.
                warnings.simplefilter("ignore", MissingPivotFunction)
                answer = self._client.query_api().query_data_frame(rendered.text, org=self.org)
        except Exception as err:  # influxdb-client raises ApiException, urllib3 errors, ...
            raise QueryRunError(_flux_failure(self.url, err)) from None
        frames = answer if isinstance(answer, list) else [answer]
        return flux_rows(plan, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())

    def close(self) -> None:
        self._client.close()


def _flux_failure(url: str, err: Exception) -> str:
    """Why a Flux query failed, in a sentence: no answer, no Flux endpoint, or the server's."""
    status = getattr(err, "status", None)
    if status == 404:
        return (
            f"{url} has no Flux endpoint (/api/v2/query answered 404): Flux needs InfluxDB 2.x; "
            "use --dialect influxql for 1.x and 3.x, or sql for 3.x"
        )
    if status in (401, 403):
        return f"InfluxDB at {url} refused the token (HTTP {status}): set KILOWATCH_INFLUX_TOKEN"
    if status is None:
        return (
            f"InfluxDB at {url} did not answer ({network_reason(err)}); check the URL and that "
            "it runs"
        )
    reason = getattr(err, "message", None) or getattr(err, "reason", None) or err
    return f"InfluxDB at {url} refused the Flux query (HTTP {status}): {reason}"


def flux_rows(plan: Plan, table: pd.DataFrame) -> pd.DataFrame:
    """influxdb-client's DataFrame (`_time`, `_value`, tag columns) as the long frame."""
    if table.empty or "_value" not in table:
        return empty_long(plan)
    frame = pd.DataFrame({VALUE: table["_value"].to_numpy()})
    if "_time" in table:
        ns = pd.to_datetime(table["_time"], utc=True).astype("int64").to_numpy()
        frame[TIME] = _unshift(plan, ns)
    if plan.group is not None:
        frame[TAG] = table[plan.group].to_numpy()
    if plan.aggregate == "last":
        frame[BILLING_PERIOD] = table[BILLING_PERIOD].to_numpy()
    return frame


def sql_rows(plan: Plan, table: pd.DataFrame) -> pd.DataFrame:
    """A SQL answer (columns bucket, tag, value, billing_period) as the long frame."""
    if table.empty:
        return empty_long(plan)
    return table.rename(columns={"bucket": TIME})


class SqlRunner:
    """SQL on InfluxDB 3 through influxdb3-python (`query(..., language="sql")`)."""

    dialect: Dialect = "sql"

    def __init__(self, host: str, database: str, *, token: str = "") -> None:
        from influxdb_client_3 import InfluxDBClient3

        if not token:  # influxdb3-python refuses to start without one
            raise QueryRunError(
                "InfluxDB 3 needs a token for SQL queries: set KILOWATCH_INFLUX_TOKEN"
            )
        self.host = host
        try:
            self._client = InfluxDBClient3(host=host, database=database, token=token)
        except Exception as err:  # influxdb3-python raises bare Exception for bad settings
            raise QueryRunError(f"cannot connect to InfluxDB 3 at {host}: {err}") from None

    def render(self, plan: Plan) -> Rendered:
        return render_sql(plan)

    def rows(self, plan: Plan, rendered: Rendered) -> pd.DataFrame:
        try:
            table = self._client.query(
                rendered.text,
                language="sql",
                mode="pandas",
                query_parameters=rendered.params,
            )
        except Exception as err:  # Flight errors of every kind
            text = str(err)
            if "unavailable" in text.lower():  # gRPC found no Flight server there
                raise QueryRunError(
                    f"InfluxDB 3 at {self.host} did not answer over Arrow Flight: check the URL; "
                    "use --dialect influxql for InfluxDB 1.x and 2.x"
                ) from None
            raise QueryRunError(f"InfluxDB 3 refused the SQL query: {text[:300]}") from None
        return sql_rows(plan, table)

    def close(self) -> None:
        self._client.close()


# DuckDB has no date_bin and no tz(); these give it InfluxDB 3's meaning for the SQL we render.
# tz() turns the UTC `time` into an instant (TIMESTAMPTZ); date_trunc then works in the
# session's time zone, which the runner sets to the query's zone (tz()'s second argument).
DUCKDB_MACROS = (
    "CREATE OR REPLACE MACRO date_bin(width, ts, origin) AS time_bucket(width, ts, origin)",
    "CREATE OR REPLACE MACRO tz(ts, zone) AS timezone('UTC', ts)",
)


class DuckDBRunner:
    """The SQL rendering on DuckDB, over tables laid out as InfluxDB 3 stores measurements."""

    dialect: Dialect = "sql"

    def __init__(self, connection: Any) -> None:
        self._db = connection
        for statement in DUCKDB_MACROS:
            self._db.execute(statement)

    def render(self, plan: Plan) -> Rendered:
        return render_sql(plan)

    def rows(self, plan: Plan, rendered: Rendered) -> pd.DataFrame:
        self._db.execute(f"SET TimeZone = {quote_string(plan.timezone)}")
        table = self._db.execute(rendered.text, rendered.params).df()
        return sql_rows(plan, table)

    def close(self) -> None:
        """Nothing to release: the connection is the caller's."""


class DataFusionRunner:
    """The SQL rendering on Apache DataFusion, InfluxDB 3's own SQL engine, over tables laid out
    as InfluxDB 3 stores measurements (registered on `context`, a datafusion SessionContext).

    DataFusion runs the text as InfluxDB 3 would, `$name` parameters included; only `tz()`, an
    InfluxDB function, is supplied here: it keeps each instant and sets the zone, as InfluxDB's
    does for timestamps without one.
    """

    dialect: Dialect = "sql"

    def __init__(self, context: Any) -> None:
        self._context = context

    def render(self, plan: Plan) -> Rendered:
        return render_sql(plan)

    def rows(self, plan: Plan, rendered: Rendered) -> pd.DataFrame:
        from datafusion import udf

        pa: Any = importlib.import_module("pyarrow")  # no type information (see lake/schema.py)

        zoned = pa.timestamp("ns", tz=plan.timezone)

        def tz(stamps: Any, zone: Any) -> Any:
            return stamps.cast(pa.timestamp("ns")).cast(pa.int64()).cast(zoned)

        # The result type carries the zone, so the function is defined for this query's zone.
        self._context.register_udf(
            udf(tz, [pa.timestamp("ns"), pa.string()], zoned, "immutable", name="tz")
        )
        table = self._context.sql(rendered.text, param_values=rendered.params).to_pandas()
        return sql_rows(plan, table)

    def close(self) -> None:
        """Nothing to release: the context is the caller's."""
