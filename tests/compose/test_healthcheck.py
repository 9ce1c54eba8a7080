"""docker/healthcheck.py, the check Docker runs in the bridge and simulator containers."""

from __future__ import annotations

import importlib.util
import socket
import time
from types import ModuleType

import pytest

from tests.support.services import REPO_ROOT, InfluxDB1, Mosquitto, free_port


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "healthcheck", REPO_ROOT / "docker" / "healthcheck.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hc = load_healthcheck()

# /proc/net/tcp: one connection to 10.0.0.2:1883 established (01), one listening socket (0A).
PROC_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1
   1: 0300000A:C350 0200000A:075B 01 00000000:00000000 00:00000000 00000000  1000        0 2
"""


def test_ports_of_established_connections() -> None:
    assert hc.established_remote_ports([PROC_TCP]) == {1883}


def test_broker_port_from_the_url() -> None:
    assert hc.broker_port("mqtt://bridge:pw@mosquitto:1883") == 1883
    assert hc.broker_port("mqtts://broker.example") == 8883
    assert hc.broker_port("mqtt://broker.example") == 1883


def test_connected_or_a_reason_without_the_password() -> None:
    assert hc.connected_to_broker("mqtt://u:secret@mosquitto:1883", [PROC_TCP]) is None
    problem = hc.connected_to_broker("mqtt://u:secret@mosquitto:1884", [PROC_TCP])
    assert "1884" in problem and "secret" not in problem


def test_usage_error() -> None:
    assert hc.main([], {}) == 2
    assert hc.main(["simulator"], {}) == 2


@pytest.mark.integration
def test_sees_a_real_connection_to_a_real_broker(mosquitto: Mosquitto) -> None:
    with socket.create_connection(("127.0.0.1", mosquitto.port)):
        assert hc.main(["mqtt"], {"KILOWATCH_MQTT_URL": mosquitto.url}) == 0
    unused = f"mqtt://127.0.0.1:{free_port()}"
    assert hc.main(["mqtt"], {"KILOWATCH_MQTT_URL": unused}) == 1


@pytest.mark.integration
def test_bridge_health_point_in_a_real_influxdb(influxdb: InfluxDB1, influx_db_name: str) -> None:
    env = {
        "KILOWATCH_INFLUX_URL": influxdb.url,
        "KILOWATCH_INFLUX_BUCKET": influx_db_name,
        "KILOWATCH_MQTT_CLIENT_ID": "bridge-'a'",
    }
    assert "no kilowatch_bridge point" in hc.bridge_reported(env)
    now = int(time.time())
    influxdb.write(influx_db_name, f"kilowatch_bridge,bridge=other queue_depth=0i {now}")
    assert hc.bridge_reported(env) is not None  # another bridge's point does not count
    influxdb.write(influx_db_name, f"kilowatch_bridge,bridge=bridge-'a' queue_depth=0i {now - 600}")
    assert hc.bridge_reported(env) is not None  # too old
    influxdb.write(influx_db_name, f"kilowatch_bridge,bridge=bridge-'a' queue_depth=3i {now}")
    assert hc.bridge_reported(env) is None


def test_unreachable_influxdb_is_a_sentence() -> None:
    env = {"KILOWATCH_INFLUX_URL": f"http://127.0.0.1:{free_port()}"}
    assert "did not answer" in hc.bridge_reported(env)
