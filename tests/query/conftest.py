"""A week of two simulated plants stored by the real bridge in InfluxDB 1.x, once per run.

The readings come from the simulator's meter model, published over Mosquitto as the contract
says, costed and stored by `kilowatch bridge`; the week holds Seattle's clock change
(1 Nov 2026, a 25-hour day), a month boundary, and a four-hour gap on one meter.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd
import pytest

from kilowatch.config import load_config
from kilowatch.contract import encode_readings, readings_topic
from kilowatch.simulator.fleet import fleet_from_config
from tests.support.services import (
    REPO_ROOT,
    BackgroundProcess,
    InfluxDB1,
    Mosquitto,
    kilowatch_argv,
    publish_lines,
)

PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
SEED = 11
INTERVAL_S = 300
FIRST_END = int(pd.Timestamp("2026-10-28T00:00:00Z").timestamp())  # before both local midnights
LAST_END = int(pd.Timestamp("2026-11-05T12:00:00Z").timestamp())
GAP_METER = ("sea", "lighting")
GAP = (  # readings of GAP_METER never sent: 2 Nov 2026, 10:00-14:00 Seattle time
    int(pd.Timestamp("2026-11-02T10:00:00-08:00").timestamp()),
    int(pd.Timestamp("2026-11-02T14:00:00-08:00").timestamp()),
)
READINGS_PER_MESSAGE = 1000


@dataclass(frozen=True)
class Stored:
    """Where the bridge stored the week, and the raw points read back (one row per point)."""

    influx: InfluxDB1
    database: str
    energy: pd.DataFrame  # time (UTC), plant, line, meter, period, energy_kwh, cost, interval_s
    billing: pd.DataFrame  # every `billing` point
    published: pd.DataFrame  # plant, meter, ts, energy_kwh as published


def _wait(describe: str, probe: Callable[[], bool], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {describe}"
        time.sleep(0.5)


def _raw(influx: InfluxDB1, database: str, measurement: str) -> pd.DataFrame:
    rows = influx.query(f'SELECT * FROM "{measurement}"', db=database, epoch="ns")
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["time"] = pd.to_datetime(frame["time"], unit="ns", utc=True)
    return frame


@pytest.fixture(scope="session")
def stored(influxdb: InfluxDB1, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """The week stored by the bridge (the database is dropped at the end of the run)."""
    workdir = tmp_path_factory.mktemp("query-bridge")
    database = f"query_{int(time.time() * 1000)}"
    influx = influxdb
    influx.create_database(database)
    config = load_config(PLANT_FILE)
    published = []
    with Mosquitto(workdir=workdir / "mosquitto") as broker:
        env = {
            "KILOWATCH_CONFIG": str(PLANT_FILE),
            "KILOWATCH_MQTT_URL": broker.url,
            "KILOWATCH_MQTT_CLIENT_ID": "query-bridge",
            "KILOWATCH_INFLUX_URL": influx.url,
            "KILOWATCH_INFLUX_BUCKET": database,
            "KILOWATCH_HEALTH_INTERVAL_S": "1",
            "KILOWATCH_BILLING_INTERVAL_S": "1",
            "KILOWATCH_RETRY_MAX_S": "1",
        }
        bridge = BackgroundProcess(kilowatch_argv("bridge"), env=env, log_path=workdir / "b.log")
        with bridge:
            bridge.wait_for_log("subscribed to")
            count = (LAST_END - FIRST_END) // INTERVAL_S + 1
            for meter in fleet_from_config(config, SEED, "auto"):
                readings = [
                    r
                    for r in meter.readings(FIRST_END, INTERVAL_S, count)
                    if not ((meter.plant, meter.meter) == GAP_METER and GAP[0] < r.ts <= GAP[1])
                ]
                published += [(r.plant, r.meter, r.ts, r.energy_kwh) for r in readings]
                payloads = [
                    encode_readings(readings[i : i + READINGS_PER_MESSAGE]).decode()
                    for i in range(0, len(readings), READINGS_PER_MESSAGE)
                ]
                publish_lines(broker, readings_topic(meter.plant, meter.meter), payloads)

            def all_stored() -> bool:
                rows = influx.query('SELECT count("energy_kwh") FROM "energy"', db=database)
                return bool(rows) and rows[0]["count"] == len(published)

            _wait("every reading stored", all_stored)
            # The running bill covers the periods still open to late data (here November);
            # its points are final once they stop changing.
            seen: list[float] = []

            def bills_settled() -> bool:
                bills = _raw(influx, database, "billing")
                total = (
                    -1.0
                    if bills.empty
                    else float(
                        bills.sort_values("time")
                        .groupby(["plant", "scope", "billing_period", "meter"], dropna=False)[
                            "readings"
                        ]
                        .last()
                        .sum()
                    )
                )
                seen.append(total)
                return total > 0 and seen[-4:] == [total] * 4

            _wait("the bills to settle", bills_settled)
    published_frame = pd.DataFrame(published, columns=["plant", "meter", "ts", "energy_kwh"])
    try:
        yield Stored(
            influx,
            database,
            _raw(influx, database, "energy"),
            _raw(influx, database, "billing"),
            published_frame,
        )
    finally:
        influx.drop_database(database)


FluxCheck = Callable[[list[str]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def flux_check() -> FluxCheck:
    """InfluxData's Flux parser (tools/flux/check.mjs): syntax, semantic check and the string
    literals it read, for each script. Skips when node or the npm package is missing."""
    tool = REPO_ROOT / "tools" / "flux"
    if shutil.which("node") is None or not (tool / "node_modules").is_dir():
        pytest.skip("the Flux parser is not installed: run npm ci --prefix tools/flux")

    def check(scripts: list[str]) -> list[dict[str, Any]]:
        done = subprocess.run(
            ["node", str(tool / "check.mjs")],
            input=orjson.dumps(scripts),
            capture_output=True,
            timeout=120,
            check=True,
        )
        results: list[dict[str, Any]] = orjson.loads(done.stdout)
        return results

    return check
