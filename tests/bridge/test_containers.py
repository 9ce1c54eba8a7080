"""The end-to-end cost test against InfluxDB 2.x and Mosquitto in containers (testcontainers).

Needs a Docker engine; where none runs (as on the development machines here) it skips, saying
so. The same readings and hand-worked costs as test_end_to_end.py, written through
influxdb-client's v2 API with a token and read back with Flux.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.bridge.conftest import EXAMPLE_PLANT_FILE
from tests.bridge.test_end_to_end import CASES
from tests.support.services import BackgroundProcess, kilowatch_argv, require_docker

pytestmark = pytest.mark.docker

INFLUX_IMAGE = "influxdb:2.7"
MOSQUITTO_IMAGE = "eclipse-mosquitto:2.0"
TOKEN = "kilowatch-test-token"  # a throwaway container's token, not a secret
ORG, BUCKET = "kilowatch", "kilowatch"


@pytest.fixture(scope="module")
def containers() -> Iterator[tuple[str, str]]:
    """(broker URL, InfluxDB URL) of fresh containers; skips where Docker is not running.

    Only a missing engine skips: a wrong image tag or a failed start is an error.
    """
    require_docker()
    from testcontainers.community.influxdb.version2 import InfluxDb2Container
    from testcontainers.community.mqtt import MosquittoContainer

    influx = InfluxDb2Container(
        INFLUX_IMAGE,
        init_mode="setup",
        admin_token=TOKEN,
        username="kilowatch",
        password="kilowatch-test-password",
        org_name=ORG,
        bucket=BUCKET,
    )
    broker = MosquittoContainer(MOSQUITTO_IMAGE)
    try:
        influx.start()
        broker.start()
        port = broker.get_exposed_port(MosquittoContainer.MQTT_PORT)
        yield f"mqtt://{broker.get_container_host_ip()}:{port}", influx.get_url()
    finally:
        for container in (broker, influx):
            if container.get_wrapped_container() is not None:
                container.stop()


def publish(broker_url: str, messages: list[tuple[str, str]]) -> None:
    host, port = broker_url.removeprefix("mqtt://").rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect(host, int(port))
    client.loop_start()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=30)
    client.loop_stop()
    client.disconnect()


def stored_costs(influx_url: str) -> list[float]:
    from influxdb_client import InfluxDBClient

    flux = (
        f'from(bucket: "{BUCKET}") |> range(start: 2020-01-01T00:00:00Z)'
        ' |> filter(fn: (r) => r._measurement == "energy" and r._field == "cost")'
    )
    with InfluxDBClient(url=influx_url, token=TOKEN, org=ORG) as client:
        tables = client.query_api().query(flux)
    return sorted(record.get_value() for table in tables for record in table.records)


def bridge_env(broker_url: str, influx_url: str) -> dict[str, str]:
    """`kilowatch bridge`'s settings for the containers."""
    return {
        "KILOWATCH_CONFIG": str(EXAMPLE_PLANT_FILE),
        "KILOWATCH_MQTT_URL": broker_url,
        "KILOWATCH_INFLUX_URL": influx_url,
        "KILOWATCH_INFLUX_TOKEN": TOKEN,
        "KILOWATCH_INFLUX_ORG": ORG,
        "KILOWATCH_INFLUX_BUCKET": BUCKET,
        "PATH": os.environ.get("PATH", ""),
    }


def test_bridge_costs_readings_into_influxdb_2(containers: tuple[str, str], tmp_path: Path) -> None:
    broker_url, influx_url = containers
    env = bridge_env(broker_url, influx_url)
    with BackgroundProcess(
        kilowatch_argv("bridge"), env=env, log_path=tmp_path / "bridge.log"
    ) as bridge:
        bridge.wait_for_log("subscribed to")
        assert "InfluxDB 2 API" in bridge.log_tail(50)
        messages = [(topic, payload) for topic, payload, *_ in CASES]
        publish(broker_url, messages + messages)  # everything twice: stored once
        deadline = time.monotonic() + 60
        while len(costs := stored_costs(influx_url)) < len(CASES) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert costs == pytest.approx(sorted(cost for *_, cost, _period, _line in CASES), rel=1e-9)


@pytest.mark.parametrize(
    ("setting", "value", "sentence"),
    [
        ("KILOWATCH_INFLUX_TOKEN", "not-the-token", "refused the bridge's credentials"),
        ("KILOWATCH_INFLUX_ORG", "no-such-org", "has no such organisation"),
        ("KILOWATCH_INFLUX_BUCKET", "no-such-bucket", "has no bucket or database 'no-such-bucket'"),
    ],
)
def test_a_wrong_token_org_or_bucket_stops_the_bridge_at_start(
    containers: tuple[str, str], setting: str, value: str, sentence: str
) -> None:
    broker_url, influx_url = containers
    env = bridge_env(broker_url, influx_url) | {setting: value}
    done = subprocess.run(
        kilowatch_argv("bridge"), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert sentence in done.stderr
    assert setting in done.stderr
