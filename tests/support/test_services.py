"""The test rig itself: real servers start, keep what they should across restarts, and go away."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kilowatch.mqtt.connection import MqttTarget
from tests.support.services import (
    REPO_ROOT,
    BackgroundProcess,
    InfluxDB1,
    Mosquitto,
    ServiceError,
    SessionSubscriber,
    free_port,
    port_open,
    publish_lines,
    require_binary,
)

TOPIC = "kilowatch/rig/m1/readings"


def process_gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether pid has ended (a zombie nobody reaped counts as ended), waiting up to timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_missing_binary_says_which_package_to_install() -> None:
    with pytest.raises(ServiceError, match="apt-get install kilowatch-nothing"):
        require_binary("kilowatch-no-such-binary", "kilowatch-nothing")


@pytest.mark.integration
def test_broker_delivers_on_the_url_it_reports(mosquitto: Mosquitto, tmp_path: Path) -> None:
    target = MqttTarget.from_url(mosquitto.url)
    assert (target.host, target.port) == ("127.0.0.1", mosquitto.port)
    subscriber = SessionSubscriber(mosquitto, "rig-sub", TOPIC, tmp_path / "sub.out")
    subscriber.register()
    publish_lines(mosquitto, TOPIC, ["first", "second"])
    subscriber.connect()
    assert subscriber.drain() == ["first", "second"]


@pytest.mark.integration
def test_persistent_broker_keeps_queued_messages_across_restart(
    mosquitto_persistent: Mosquitto, tmp_path: Path
) -> None:
    subscriber = SessionSubscriber(mosquitto_persistent, "rig-sub", TOPIC, tmp_path / "sub.out")
    subscriber.register()
    sent = [f"reading-{i}" for i in range(200)]
    publish_lines(mosquitto_persistent, TOPIC, sent)
    port = mosquitto_persistent.port
    old_pid = mosquitto_persistent.process.pid if mosquitto_persistent.process else 0

    mosquitto_persistent.restart()

    assert mosquitto_persistent.port == port
    assert process_gone(old_pid)
    subscriber.connect()
    assert subscriber.drain() == sent


@pytest.mark.integration
def test_broker_without_persistence_forgets_queued_messages(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # The contrast to the test above: what keeps the messages is the persistence option.
    subscriber = SessionSubscriber(mosquitto, "rig-sub", TOPIC, tmp_path / "sub.out")
    subscriber.register()
    publish_lines(mosquitto, TOPIC, [f"reading-{i}" for i in range(200)])

    mosquitto.restart()

    subscriber.connect()
    assert subscriber.drain() == []


@pytest.mark.integration
def test_closed_broker_leaves_no_process_and_frees_its_port(tmp_path: Path) -> None:
    broker = Mosquitto(workdir=tmp_path / "mosquitto").start()
    assert broker.process is not None
    pid, port = broker.process.pid, broker.port
    assert port_open(port)

    broker.close()

    assert process_gone(pid)
    assert not port_open(port)


@pytest.mark.integration
def test_broker_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    broker = Mosquitto(extra_conf=["no_such_option true"], workdir=tmp_path / "mosquitto")
    with pytest.raises(ServiceError, match="Unknown configuration variable"):
        broker.start()
    assert not broker.alive


@pytest.mark.integration
def test_servers_left_running_are_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from tests.support.services import InfluxDB1, Mosquitto\n"
        "broker = Mosquitto(workdir=sys.argv[1] + '/mosquitto').start()\n"
        "influx = InfluxDB1(workdir=sys.argv[1] + '/influxdb').start()\n"
        "print(broker.process.pid, influx.process.pid)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2
    assert all(process_gone(pid) for pid in pids)


@pytest.mark.integration
def test_influxdb_returns_rows_with_tags_and_unix_seconds(
    influxdb: InfluxDB1, influx_db_name: str
) -> None:
    influxdb.write(
        influx_db_name,
        [
            "energy,plant=p1,meter=m1 energy_kwh=1.5 1700000000",
            "energy,plant=p1,meter=m2 energy_kwh=2.25 1700000300",
        ],
    )
    rows = influxdb.query(
        "SELECT energy_kwh FROM energy GROUP BY meter ORDER BY time", db=influx_db_name
    )
    assert rows == [
        {"meter": "m1", "time": 1700000000, "energy_kwh": 1.5},
        {"meter": "m2", "time": 1700000300, "energy_kwh": 2.25},
    ]


@pytest.mark.integration
def test_influxdb_errors_carry_influxdb_text(influxdb: InfluxDB1, influx_db_name: str) -> None:
    with pytest.raises(ServiceError, match="error parsing query"):
        influxdb.query("SELEKT * FROM energy", db=influx_db_name)
    influxdb.write(influx_db_name, "energy,meter=m1 energy_kwh=1.5 1700000000")
    with pytest.raises(ServiceError, match="field type conflict"):
        influxdb.write(influx_db_name, 'energy,meter=m1 energy_kwh="text" 1700000300')


@pytest.mark.integration
def test_each_test_gets_a_new_empty_database(influxdb: InfluxDB1, influx_db_name: str) -> None:
    names = [row["name"] for row in influxdb.query("SHOW DATABASES")]
    assert influx_db_name in names
    assert influxdb.query("SHOW MEASUREMENTS", db=influx_db_name) == []


@pytest.mark.integration
def test_influxdb_restart_and_kill_keep_ports_and_data(influxdb_private: InfluxDB1) -> None:
    influx = influxdb_private
    influx.create_database("kept")
    influx.write("kept", "energy,meter=m1 energy_kwh=1.5 1700000000")
    ports = (influx.port, influx.rpc_port)

    influx.restart()
    assert (influx.port, influx.rpc_port) == ports
    assert influx.query("SELECT energy_kwh FROM energy", db="kept") == [
        {"time": 1700000000, "energy_kwh": 1.5}
    ]

    assert influx.process is not None
    pid = influx.process.pid
    influx.kill()
    assert process_gone(pid)
    assert not influx.alive
    # What a crash test relies on: a point InfluxDB acknowledged survives SIGKILL (its WAL).
    influx.start()
    assert influx.query("SELECT count(energy_kwh) FROM energy", db="kept")[0]["count"] == 1


def test_background_process_passes_env_logs_and_kill_reaches_its_children(
    tmp_path: Path,
) -> None:
    script = (
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print(os.environ['KILOWATCH_RIG_WORD'], child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = BackgroundProcess(
        [sys.executable, "-c", script],
        env={"KILOWATCH_RIG_WORD": "ready"},
        log_path=tmp_path / "process.log",
    ).start()
    try:
        after_word = process.wait_for_log("ready ", timeout_s=30)
        process.wait_for_log("\n", since=after_word, timeout_s=30)
        child_pid = int(process.log_tail().split()[1])
        assert process.alive

        process.kill(signal.SIGKILL)

        assert process.wait() == -signal.SIGKILL
        assert not process.alive
        assert process_gone(child_pid)
    finally:
        process.stop()


def test_background_python_module_runs_with_this_interpreter(tmp_path: Path) -> None:
    document = tmp_path / "doc.json"
    document.write_text('{"energy_kwh": 1.5}')
    process = BackgroundProcess.python_module(
        "json.tool", "--indent", "3", str(document), log_path=tmp_path / "out.log"
    ).start()
    assert process.wait() == 0
    assert process.log_tail() == '{\n   "energy_kwh": 1.5\n}'


def test_waiting_for_a_line_fails_clearly_when_the_process_ends(tmp_path: Path) -> None:
    process = BackgroundProcess(
        [sys.executable, "-c", "print('something else')"], log_path=tmp_path / "out.log"
    ).start()
    with pytest.raises(ServiceError, match=r"ended \(status 0\).*\n.*something else"):
        process.wait_for_log("never printed", timeout_s=30)
