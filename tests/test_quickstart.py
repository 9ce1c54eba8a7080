"""README "Without Docker", as written: Mosquitto and InfluxDB 1.x started natively from the
configs in config/local/, `kilowatch bridge` and `kilowatch simulate` with no options, and the
laptop agent (config/local/agent.yaml) polling `kilowatch simulate --modbus`.

The only changes to what the README says: free ports instead of 1883, 8086, 8088 and 1502
(tests run side by side), `user root` for Mosquitto when the tests run as root, and the agent
polling every 2 s instead of every minute. Everything runs in a scratch directory that links
the repository's config/ and provisioning/, so .kilowatch/ is created there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.services import REPO_ROOT, BackgroundProcess, free_port, kilowatch_argv

pytestmark = pytest.mark.integration

LOCAL = REPO_ROOT / "config" / "local"


def wait(what: str, ready: Callable[[], bool], process: BackgroundProcess, timeout_s: float = 90):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not process.alive:
            break
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen:\n{process.log_tail()}")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    for name in ("config", "provisioning"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    (tmp_path / ".kilowatch" / "mosquitto").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def servers(scratch: Path) -> Iterator[dict[str, str]]:
    """Mosquitto and influxd from config/local/, on free ports; the env that points at them."""
    mqtt_port, http_port, rpc_port = free_port(), free_port(), free_port()
    mosquitto_conf = (
        (LOCAL / "mosquitto.conf")
        .read_text()
        .replace("listener 1883 127.0.0.1", f"listener {mqtt_port} 127.0.0.1")
    )
    if os.geteuid() == 0:
        mosquitto_conf += "user root\n"
    (scratch / "mosquitto.conf").write_text(mosquitto_conf)
    influx_conf = (
        (LOCAL / "influxdb.conf")
        .read_text()
        .replace("127.0.0.1:8086", f"127.0.0.1:{http_port}")
        .replace("127.0.0.1:8088", f"127.0.0.1:{rpc_port}")
    )
    (scratch / "influxdb.conf").write_text(influx_conf)
    broker = BackgroundProcess(
        ["mosquitto", "-c", "mosquitto.conf"], log_path=scratch / "mosquitto.log", cwd=scratch
    ).start()
    influxd = BackgroundProcess(
        ["influxd", "-config", "influxdb.conf"], log_path=scratch / "influxd.log", cwd=scratch
    ).start()
    url = f"http://127.0.0.1:{http_port}"

    def pings() -> bool:
        try:
            return requests.get(f"{url}/ping", timeout=1).status_code == 204
        except requests.RequestException:
            return False

    wait("InfluxDB answering /ping", pings, influxd)
    broker.wait_for_log(f"Opening ipv4 listen socket on port {mqtt_port}")
    try:
        yield {"KILOWATCH_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}", "KILOWATCH_INFLUX_URL": url}
    finally:
        broker.stop()
        influxd.stop()


def count(url: str, query: str) -> int:
    answer = requests.get(f"{url}/query", params={"db": "kilowatch", "q": query}, timeout=10).json()
    series = answer["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def test_the_local_quick_start_runs_as_written(scratch: Path, servers: dict[str, str]) -> None:
    def kilowatch(*args: str, name: str) -> BackgroundProcess:
        return BackgroundProcess(
            kilowatch_argv(*args), env=servers, log_path=scratch / f"{name}.log", cwd=scratch
        )

    influx = servers["KILOWATCH_INFLUX_URL"]
    bridge = kilowatch("bridge", name="bridge").start()
    try:
        bridge.wait_for_log("subscribed to")
        simulate = kilowatch("simulate", "--backfill", "1h", "--count", "12", name="simulate")
        assert simulate.start().wait(timeout_s=120) == 0, simulate.log_tail()
        assert "backfill done" in simulate.log_tail()
        wait(
            "the simulated hour stored",
            lambda: count(influx, 'SELECT count("energy_kwh") FROM "energy"') >= 120,
            bridge,
        )
        bill = subprocess.run(
            kilowatch_argv("bill", "--plant", "hmo", "--period", "current"),
            env={**os.environ, **servers},
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert bill.returncode == 0, bill.stderr
        assert "BILL SO FAR" in bill.stdout

        # The laptop agent, polling the simulator's Modbus meters.
        modbus_port = free_port()
        agent_file = scratch / "agent.yaml"
        agent_file.write_text(
            (LOCAL / "agent.yaml")
            .read_text()
            .replace("port: 1502", f"port: {modbus_port}")
            .replace("interval_s: 60 ", "interval_s: 2 ")
            .replace("../../.kilowatch/agent.sqlite", str(scratch / ".kilowatch/agent.sqlite"))
        )
        assert re.search(r"interval_s: 2 ", agent_file.read_text())
        served = kilowatch("simulate", "--modbus", str(modbus_port), name="modbus").start()
        try:
            served.wait_for_log("serving 10 simulated meters")
            agent = kilowatch("agent", "-c", str(agent_file), name="agent").start()
            try:
                wait(
                    "the agent's readings of all six meters stored",
                    lambda: (
                        count(
                            influx,
                            'SELECT count("energy_kwh") FROM "energy" WHERE "interval_s" = 2',
                        )
                        >= 12
                    ),
                    agent,
                )
            finally:
                agent.kill(signal.SIGTERM)
                assert agent.wait() == 0, agent.log_tail()
        finally:
            served.stop()
        meters = requests.get(
            f"{influx}/query",
            params={
                "db": "kilowatch",
                "q": 'SHOW TAG VALUES FROM "energy" WITH KEY = "meter" WHERE "interval_s" = 2',
            },
            timeout=10,
        ).json()
        assert "Traceback" not in agent.log_tail() + served.log_tail()
        assert meters["results"][0].get("series"), meters
    finally:
        bridge.kill(signal.SIGTERM)
        assert bridge.wait() == 0, bridge.log_tail()
