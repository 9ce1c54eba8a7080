"""Fixtures that start real Mosquitto (also with TLS) and InfluxDB 1.x (see
tests/support/services.py)."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import InfluxDB1, Mosquitto, require_binary


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker for one test: anonymous, no persistence, the shipped no-loss queue limits."""
    with Mosquitto(workdir=tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture
def mosquitto_persistent(tmp_path: Path) -> Iterator[Mosquitto]:
    """Like `mosquitto`, with persistence: restart() keeps sessions and queued QoS 1 messages."""
    with Mosquitto(persistence=True, workdir=tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """One InfluxDB 1.x server for the whole run; use `influx_db_name` for a database of your own.

    Tests that stop, restart or kill InfluxDB must use `influxdb_private` instead.
    """
    with InfluxDB1(workdir=tmp_path_factory.mktemp("influxdb")) as server:
        yield server


@pytest.fixture
def influxdb_private(tmp_path: Path) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.x server for one test alone, free to stop, restart or kill."""
    with InfluxDB1(workdir=tmp_path / "influxdb") as server:
        yield server


@pytest.fixture
def influx_db_name(influxdb: InfluxDB1, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on `influxdb` for this test alone; dropped afterwards."""
    # The test's name makes a leftover database recognisable; the suffix makes it unique.
    readable = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
    name = f"t_{readable}_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)
    yield name
    influxdb.drop_database(name)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (CN edge-1, as a device's
    for AWS IoT Core) signed by it (openssl)."""
    directory = tmp_path_factory.mktemp("tls")
    openssl = require_binary("openssl", "openssl")
    files = {
        name: directory / name
        for name in (
            *("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "san.cnf"),
            *("client.key", "client.csr", "client.pem"),
        )
    }
    files["san.cnf"].write_text("subjectAltName = IP:127.0.0.1\n")

    def run(command: str, *extra: str) -> None:
        argv = [
            openssl,
            *command.format(**{k.replace(".", "_"): v for k, v in files.items()}).split(),
        ]
        subprocess.run([*argv, *extra], check=True, capture_output=True, timeout=60)

    run("req -x509 -newkey rsa:2048 -nodes -days 2 -keyout {ca_key} -out {ca_pem} -subj", "/CN=ca")
    run("req -newkey rsa:2048 -nodes -keyout {server_key} -out {server_csr} -subj", "/CN=127.0.0.1")
    run(
        "x509 -req -in {server_csr} -CA {ca_pem} -CAkey {ca_key} -CAcreateserial -days 2 "
        "-extfile {san_cnf} -out {server_pem}"
    )
    run("req -newkey rsa:2048 -nodes -keyout {client_key} -out {client_csr} -subj", "/CN=edge-1")
    run(
        "x509 -req -in {client_csr} -CA {ca_pem} -CAkey {ca_key} -CAcreateserial -days 2 "
        "-out {client_pem}"
    )
    return files


@pytest.fixture
def tls_broker(tmp_path: Path, tls_files: dict[str, Path]) -> Iterator[Mosquitto]:
    """Mosquitto with TLS only (the CA of tls_files) and a password file: user edge-1, password
    right-one."""
    passwords = tmp_path / "passwd"
    subprocess.run(
        [
            require_binary("mosquitto_passwd", "mosquitto"),
            "-b",
            "-c",
            str(passwords),
            "edge-1",
            "right-one",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    broker = Mosquitto(
        password_file=passwords,
        extra_conf=[
            f"cafile {tls_files['ca.pem']}",
            f"certfile {tls_files['server.pem']}",
            f"keyfile {tls_files['server.key']}",
        ],
        workdir=tmp_path / "mosquitto",
    )
    with broker:
        yield broker
