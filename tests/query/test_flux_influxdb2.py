"""The Flux rendering executed on InfluxDB 2.x (testcontainers): the same DataFrames as InfluxQL
gives on 1.x for every query kind, over the points the bridge stored.

Needs a Docker engine; skipped where none answers (as on the development machines).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from kilowatch.influx.lineprotocol import format_point
from kilowatch.query import FluxRunner, InfluxQLRunner, run
from tests.query.conftest import Stored
from tests.query.test_bridge_data import CASES, IDS, ZONES, Case
from tests.support.services import require_docker

pytestmark = [pytest.mark.docker, pytest.mark.integration]

TOKEN, ORG, BUCKET = "kilowatch-test-token", "kilowatch", "kilowatch"
FIELDS = {
    "energy": {"energy_kwh": float, "cost": float, "interval_s": int},
    "billing": {"total": float, "energy_kwh": float, "readings": int},
}
TAGS = {
    "energy": ("plant", "line", "meter", "period", "tariff"),
    "billing": ("plant", "scope", "meter", "billing_period", "tariff"),
}


def _lines(measurement: str, frame: pd.DataFrame) -> list[str]:
    out = []
    for row in frame.to_dict("records"):
        tags = {t: str(row[t]) for t in TAGS[measurement] if isinstance(row.get(t), str)}
        fields: dict[str, Any] = {
            name: kind(row[name])
            for name, kind in FIELDS[measurement].items()
            if row.get(name) is not None and row[name] == row[name]
        }
        out.append(format_point(measurement, tags, fields, row["time"].value))
    return out


@pytest.fixture(scope="module")
def influxdb2() -> Iterator[str]:
    """An InfluxDB 2.x container set up with org and bucket `kilowatch`; its URL."""
    require_docker()
    with warnings.catch_warnings():  # it moves to testcontainers.community in later versions
        warnings.simplefilter("ignore", DeprecationWarning)
        from testcontainers.influxdb2 import InfluxDb2Container

    container = InfluxDb2Container(
        "influxdb:2.7",
        init_mode="setup",
        admin_token=TOKEN,
        username="kilowatch",
        password="kilowatch-password",
        org_name=ORG,
        bucket=BUCKET,
    )
    with container:
        yield container.get_url()


@pytest.fixture(scope="module")
def flux_runner(influxdb2: str, stored: Stored) -> Iterator[FluxRunner]:
    """The bridge's points copied into the 2.x bucket, and a FluxRunner on it."""
    from influxdb_client import InfluxDBClient, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    with InfluxDBClient(url=influxdb2, token=TOKEN, org=ORG) as client:
        writer = client.write_api(write_options=SYNCHRONOUS)
        for measurement, frame in (("energy", stored.energy), ("billing", stored.billing)):
            lines = _lines(measurement, frame)
            for i in range(0, len(lines), 5000):
                writer.write(BUCKET, ORG, lines[i : i + 5000], write_precision=WritePrecision.NS)
    runner = FluxRunner(influxdb2, ORG, BUCKET, token=TOKEN)
    yield runner
    runner.close()


@pytest.mark.parametrize("plant", sorted(ZONES))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_flux_on_influxdb2_gives_the_same_dataframe(
    flux_runner: FluxRunner, stored: Stored, case: Case, plant: str
) -> None:
    influxql = run(InfluxQLRunner(stored.influx.url, stored.database), case.query(plant))
    flux = run(flux_runner, case.query(plant))
    pd.testing.assert_frame_equal(flux, influxql, check_freq=False, rtol=1e-9, atol=1e-9)
