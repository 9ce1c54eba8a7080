"""Reading InfluxDB: stored readings back with InfluxQL over HTTP `/query`.

`/query` is the same on InfluxDB 1.x and on 2.x's v1 compatibility API (with a DBRP mapping),
so one reader serves both. Writes go through kilowatch.influx.writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
import requests

from kilowatch.influx.schema import ENERGY
from kilowatch.influx.writer import auth_headers
from kilowatch.reasons import network_reason

logger = logging.getLogger(__name__)

CHUNK_POINTS = 50_000
# Readings are stored at the end of their interval: a bill also needs those ending this long
# after the period (their start lies inside it).
READ_AHEAD_S = 86_400
READING_FIELDS = ("energy_kwh", "interval_s", "reactive_kvarh")


class InfluxReadError(Exception):
    """InfluxDB cannot be reached or refuses a query; the message says which and why."""


@dataclass(frozen=True, slots=True)
class InfluxSource:
    """Where readings are: base URL, database (1.x) or bucket with DBRP mapping (2.x)."""

    url: str
    database: str
    token: str = ""
    timeout_s: float = 120.0


def _quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxReader:
    """Runs InfluxQL on `/query` and returns plain data."""

    def __init__(self, source: InfluxSource) -> None:
        self.source = source
        self._session = requests.Session()
        self._session.headers.update(auth_headers(source.token))

    def close(self) -> None:
        self._session.close()

    def series(self, query: str, *, method: str = "GET") -> Iterator[dict[str, Any]]:
        """Every series of the answer (chunked, so large answers stream), or InfluxReadError."""
        params = {
            "db": self.source.database,
            "q": query,
            "epoch": "s",
            "chunked": "true",
            "chunk_size": str(CHUNK_POINTS),
        }
        url = self.source.url.rstrip("/") + "/query"
        try:
            response = self._session.request(
                method, url, params=params, timeout=self.source.timeout_s, stream=True
            )
        except requests.RequestException as err:
            raise InfluxReadError(
                f"InfluxDB at {self.source.url} is not reachable: {network_reason(err)}"
            ) from None
        with response:
            if response.status_code >= 300:
                raise InfluxReadError(
                    f"InfluxDB at {self.source.url} answered {response.status_code}: "
                    f"{response.text.strip()[:300]}"
                )
            for line in response.iter_lines():
                if not line:
                    continue
                answer = orjson.loads(line)
                if "error" in answer:
                    raise InfluxReadError(f"InfluxDB refused a query: {answer['error']}")
                for result in answer.get("results", []):
                    if "error" in result:
                        raise InfluxReadError(f"InfluxDB refused a query: {result['error']}")
                    yield from result.get("series", [])

    def execute(self, statement: str) -> None:
        """A statement that changes data (DELETE): POST, answer checked."""
        for _ in self.series(statement, method="POST"):
            pass

    def field_types(self, measurement: str = ENERGY) -> dict[str, str]:
        """Field name -> 'float', 'integer', 'string' or 'boolean'."""
        types: dict[str, str] = {}
        for series in self.series(f'SHOW FIELD KEYS FROM "{measurement}"'):
            for name, kind in series.get("values", []):
                types[name] = kind
        return types

    def readings(
        self, plant: str, start_ts: int, end_ts: int, meter: str | None = None
    ) -> pd.DataFrame:
        """A plant's (or one meter's) readings ending in [start_ts, end_ts + READ_AHEAD_S).

        Columns meter, ts, interval_s, energy_kwh, reactive_kvarh (NaN where not sent). A
        reading stored twice under different period/tariff tags is kept once (the last).
        """
        where = f'"plant" = {_quote(plant)}'
        if meter is not None:
            where += f' AND "meter" = {_quote(meter)}'
        query = (
            f'SELECT "energy_kwh", "interval_s", "reactive_kvarh" FROM "{ENERGY}" WHERE {where} '
            f'AND time >= {start_ts}s AND time < {end_ts + READ_AHEAD_S}s GROUP BY "meter"'
        )
        frames = []
        for series in self.series(query):
            columns = series["columns"]
            frame = pd.DataFrame(series.get("values", []), columns=columns)
            frame["meter"] = series.get("tags", {}).get("meter", "")
            frames.append(frame)
        columns = ["meter", "ts", *READING_FIELDS]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
        data = pd.concat(frames, ignore_index=True).rename(columns={"time": "ts"})
        data = data.drop_duplicates(subset=["meter", "ts"], keep="last")
        data = data.dropna(subset=["energy_kwh", "interval_s"])
        data["ts"] = data["ts"].astype("int64")
        data["interval_s"] = data["interval_s"].astype("int64")
        data["energy_kwh"] = data["energy_kwh"].astype("float64")
        data["reactive_kvarh"] = pd.to_numeric(data["reactive_kvarh"], errors="coerce")
        return data[columns].sort_values(["meter", "ts"], ignore_index=True)

    def points(self, plant: str, start_ts: int, end_ts: int) -> pd.DataFrame:
        """Every energy point of a plant in [start_ts, end_ts): column time, tags and fields."""
        query = (
            f'SELECT * FROM "{ENERGY}" WHERE "plant" = {_quote(plant)} '
            f"AND time >= {start_ts}s AND time < {end_ts}s"
        )
        frames = [
            pd.DataFrame(s.get("values", []), columns=s["columns"]) for s in self.series(query)
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def delete_series_runs(
        self,
        tags: Mapping[str, str],
        runs: Sequence[tuple[int, int]],
        *,
        version: str,
        org: str,
        measurement: str = ENERGY,
    ) -> None:
        """Remove the points of ONE series (every tag given; '' = tag absent) whose time is in
        one of `runs` [first_ts, last_ts] (inclusive): exactly the points read, never a point
        stored since at another time (re-costing while the bridge writes)."""
        if not runs:
            return
        if version == "1":
            where = " AND ".join(f'"{name}" = {_quote(value)}' for name, value in tags.items())
            self.execute(
                ";".join(
                    f'DELETE FROM "{measurement}" WHERE {where} '
                    f"AND time >= {first}s AND time <= {last}s"
                    for first, last in runs
                )
            )
            return
        predicate = " AND ".join(
            [f'_measurement="{measurement}"']
            + [f'{name}="{value}"' for name, value in tags.items() if value]
        )
        for first, last in runs:
            self._delete_v2(first, last + 1, predicate, org)

    def _delete_v2(self, start_ts: int, end_ts: int, predicate: str, org: str) -> None:
        """2.x delete API over [start_ts, end_ts) (it takes an inclusive stop)."""
        stop = pd.Timestamp(end_ts * 10**9 - 1, unit="ns", tz="UTC").isoformat()
        try:
            response = self._session.post(
                self.source.url.rstrip("/") + "/api/v2/delete",
                params={"org": org, "bucket": self.source.database},
                json={
                    "start": pd.Timestamp(start_ts, unit="s", tz="UTC").isoformat(),
                    "stop": stop,
                    "predicate": predicate,
                },
                timeout=self.source.timeout_s,
            )
        except requests.RequestException as err:
            raise InfluxReadError(
                f"InfluxDB at {self.source.url} is not reachable: {network_reason(err)}"
            ) from None
        if response.status_code >= 300:
            raise InfluxReadError(
                f"InfluxDB refused to delete: {response.status_code} {response.text.strip()[:300]}"
            )

    def delete_energy(
        self, plant: str, start_ts: int, end_ts: int, *, version: str, org: str
    ) -> None:
        """Remove a plant's energy points in [start_ts, end_ts) (1.x: InfluxQL; 2.x: delete API)."""
        if version == "1":
            self.execute(
                f'DELETE FROM "{ENERGY}" WHERE "plant" = {_quote(plant)} '
                f"AND time >= {start_ts}s AND time < {end_ts}s"
            )
            return
        # 2.x has no InfluxQL DELETE.
        self._delete_v2(start_ts, end_ts, f'_measurement="{ENERGY}" AND plant="{plant}"', org)
