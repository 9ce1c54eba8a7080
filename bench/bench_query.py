"""kilowatch.query against the raw client call, on a 100,000-row result from a real influxd.

Starts InfluxDB 1.x (like the tests do), stores 100 meters x 1,000 five-minute readings, then
asks for energy by meter every 5 minutes (100,000 rows) two ways, alternately:

- raw: the HTTP call a person would write (requests, the same InfluxQL and parameters,
  `response.json()`), returning the rows as lists;
- library: `run(InfluxQLRunner(...), query)`, returning the pivoted, tz-aware DataFrame.

Prints the best and median time of each and the ratios library / raw (target: <= 1.10). A second
baseline decodes with orjson, as the library does, to show where the time goes.

    python bench/bench_query.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kilowatch.influx.lineprotocol import format_point
from kilowatch.query import InfluxQLRunner, Query, run
from tests.support.services import InfluxDB1

METERS = 100
READINGS = 1_000
INTERVAL_S = 300
START = pd.Timestamp("2026-03-02T00:00:00Z")
BATCH = 5_000


def store(influx: InfluxDB1, database: str) -> None:
    """100 meters x 1,000 readings, stamped at the end of each 5-minute interval."""
    first = int(START.timestamp()) + INTERVAL_S
    lines = [
        format_point(
            "energy",
            {"plant": "bench", "line": f"line-{m % 10}", "meter": f"m{m:03d}", "period": "p"},
            {"energy_kwh": 1.0 + (m * i) % 17 / 10, "cost": 2.0, "interval_s": INTERVAL_S},
            (first + INTERVAL_S * i) * 1_000_000_000,
        )
        for m in range(METERS)
        for i in range(READINGS)
    ]
    for i in range(0, len(lines), BATCH):
        influx.write(database, lines[i : i + BATCH], precision="ns")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    end = START + pd.Timedelta(seconds=INTERVAL_S * READINGS)
    query = Query.energy("bench").tz("UTC").between(START.to_pydatetime(), end.to_pydatetime())
    query = query.by("meter").every("5m")
    with InfluxDB1() as influx:
        influx.create_database("bench")
        store(influx, "bench")
        runner = InfluxQLRunner(influx.url, "bench")
        rendered = runner.render(query.plan())
        form = {
            "db": "bench",
            "q": rendered.text,
            "epoch": "s",
            "params": orjson.dumps(rendered.params).decode(),
        }
        session = requests.Session()

        def raw_json() -> list[list[Any]]:
            body = session.post(f"{influx.url}/query", data=form, timeout=120).json()
            return [row for s in body["results"][0]["series"] for row in s["values"]]

        def raw_orjson() -> list[list[Any]]:
            body = orjson.loads(session.post(f"{influx.url}/query", data=form, timeout=120).content)
            return [row for s in body["results"][0]["series"] for row in s["values"]]

        def library() -> pd.DataFrame:
            return run(runner, query)

        rows = raw_json()
        frame = library()
        assert len(rows) == METERS * READINGS, len(rows)
        assert frame.shape == (READINGS, METERS), frame.shape
        assert math.isclose(frame.to_numpy().sum(), sum(row[1] for row in rows), rel_tol=1e-12)
        times: dict[str, list[float]] = {"raw": [], "raw_orjson": [], "library": []}
        for _ in range(args.rounds):
            for name, fn in (("raw", raw_json), ("raw_orjson", raw_orjson), ("library", library)):
                times[name].append(timed(fn)[0])
        session.close()
        runner.close()
    print(
        f"result: {len(rows):,} rows ({READINGS} buckets x {METERS} meters), {args.rounds} rounds"
    )
    labels = {
        "raw": "raw requests + response.json()",
        "raw_orjson": "raw requests + orjson",
        "library": "kilowatch.query (DataFrame)",
    }
    # The best of N is the figure least disturbed by other work on a shared machine.
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, label in labels.items():
        print(f"{label:32} best {best[name] * 1000:7.1f} ms, median {median[name] * 1000:7.1f} ms")
    for base in ("raw", "raw_orjson"):
        print(
            f"ratio library / {base:10}  best {best['library'] / best[base]:.3f}, "
            f"median {median['library'] / median[base]:.3f}"
        )


if __name__ == "__main__":
    main()
