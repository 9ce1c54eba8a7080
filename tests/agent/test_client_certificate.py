"""Client-certificate TLS (how AWS IoT Core logs devices in), against a real Mosquitto that
requires a certificate signed by its CA: the agent connects with one and is refused without it.

Mosquitto stands in for IoT Core's TLS handshake only: IoT Core's policies (a thing may connect
only as its own name) are tested on the CDK side.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kilowatch.agent.publisher import Event, Publisher
from kilowatch.agent.settings import AgentSettings
from kilowatch.aws.devices import agent_settings_text
from kilowatch.mqtt.connection import ClientCertificate
from kilowatch.settings import SettingsError
from kilowatch.simulator.sink import MqttSink
from tests.support.services import Mosquitto


@pytest.fixture
def cert_broker(tmp_path: Path, tls_files: dict[str, Path]) -> Iterator[Mosquitto]:
    """Mosquitto over TLS that requires a client certificate signed by the tests' CA."""
    broker = Mosquitto(
        extra_conf=[
            f"cafile {tls_files['ca.pem']}",
            f"certfile {tls_files['server.pem']}",
            f"keyfile {tls_files['server.key']}",
            "require_certificate true",
            "use_identity_as_username true",  # the certificate's CN is the user, as on IoT Core
        ],
        workdir=tmp_path / "mosquitto",
    )
    with broker:
        yield broker


def agent_settings(
    monkeypatch: pytest.MonkeyPatch,
    broker_url: str,
    tls_files: dict[str, Path],
    *,
    cert: Path | None,
    key: Path | None,
) -> AgentSettings:
    """The agent's settings from KILOWATCH_* variables only, as `kilowatch aws register-device`
    writes them."""
    monkeypatch.setenv("KILOWATCH_MQTT_URL", broker_url)
    monkeypatch.setenv("KILOWATCH_MQTT_CA_FILE", str(tls_files["ca.pem"]))
    for name, path in (("KILOWATCH_MQTT_CERT_FILE", cert), ("KILOWATCH_MQTT_KEY_FILE", key)):
        if path is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(path))
    return AgentSettings.load()


def first_event(publisher: Publisher, kinds: set[str], timeout_s: float = 20) -> list[Event]:
    """Events until the first of `kinds`, in order."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            event = publisher.events.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(event)
        if event.kind in kinds:
            return seen
    raise AssertionError(f"none of {kinds} within {timeout_s} s; saw {seen}")


def publisher_of(settings: AgentSettings) -> Publisher:
    return Publisher(
        settings.mqtt,
        "edge-1",
        ca_file=settings.mqtt_ca_path,
        client_cert=settings.mqtt_client_cert,
        reconnect_max_s=1,
    )


@pytest.mark.integration
def test_the_agent_connects_with_its_certificate_and_its_readings_are_acknowledged(
    cert_broker: Mosquitto, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"mqtts://127.0.0.1:{cert_broker.port}"
    settings = agent_settings(
        monkeypatch, url, tls_files, cert=tls_files["client.pem"], key=tls_files["client.key"]
    )
    publisher = publisher_of(settings)
    publisher.start()
    try:
        for event in first_event(publisher, {"connected", "unreachable", "refused"}):
            assert event.kind not in ("unreachable", "refused"), event
            publisher.handle(event)
        publisher.publish("kilowatch/p/m/readings", b'{"ts": 1, "energy_kwh": 1}', (7,))
        acked: list[int] = []
        deadline = time.monotonic() + 20
        while not acked:
            assert time.monotonic() < deadline, "no PUBACK"
            try:
                acked += publisher.handle(publisher.events.get(timeout=0.1))
            except queue.Empty:
                continue
        assert acked == [7]
    finally:
        publisher.stop()
    cert_broker.wait_for_client("edge-1")


@pytest.mark.integration
def test_without_a_certificate_the_agent_is_refused(
    cert_broker: Mosquitto, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"mqtts://127.0.0.1:{cert_broker.port}"
    publisher = publisher_of(agent_settings(monkeypatch, url, tls_files, cert=None, key=None))
    publisher.start()
    try:
        # The broker ends the TLS session (TLS 1.3: after the client's side of the handshake
        # completed, so paho sees a lost connection) and never answers the CONNECT.
        seen = first_event(publisher, {"connected", "unreachable", "disconnected"})
        seen += first_event(publisher, {"connected", "unreachable", "disconnected"})
        assert "connected" not in [event.kind for event in seen], seen
    finally:
        publisher.stop()


@pytest.mark.integration
def test_the_simulator_connects_with_a_certificate(
    cert_broker: Mosquitto, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"mqtts://127.0.0.1:{cert_broker.port}"
    settings = agent_settings(
        monkeypatch, url, tls_files, cert=tls_files["client.pem"], key=tls_files["client.key"]
    )
    sink = MqttSink(
        settings.mqtt,
        "simulator-1",
        max_unacked=10,
        ca_file=settings.mqtt_ca_path,
        client_cert=settings.mqtt_client_cert,
    )
    sink.start()
    try:
        assert sink.wait_for_room(threading.Event())  # as the simulator does: connected first
        sink.publish("kilowatch/p/m/readings", b'{"ts": 1, "energy_kwh": 1}')
        assert sink.flush(20, threading.Event()) == 0  # acknowledged
    finally:
        sink.close()


def problem(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The one-line error of settings from these KILOWATCH_* variables."""
    for name, value in env.items():
        monkeypatch.setenv(f"KILOWATCH_{name}", value)
    with pytest.raises(SettingsError) as raised:
        AgentSettings.load()
    lines = str(raised.value).splitlines()[1:]
    assert len(lines) == 1, lines
    return lines[0].strip()


def test_certificate_and_key_go_together(
    tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KILOWATCH_MQTT_URL", "mqtts://iot.example.com:8883")
    only_cert = problem(monkeypatch, MQTT_CERT_FILE=str(tls_files["client.pem"]))
    assert only_cert.startswith("KILOWATCH_MQTT_KEY_FILE: KILOWATCH_MQTT_CERT_FILE and")
    monkeypatch.delenv("KILOWATCH_MQTT_CERT_FILE")
    only_key = problem(monkeypatch, MQTT_KEY_FILE=str(tls_files["client.key"]))
    assert "set both" in only_key


def test_a_certificate_needs_mqtts(
    tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    message = problem(
        monkeypatch,
        MQTT_URL="mqtt://localhost:1883",
        MQTT_CERT_FILE=str(tls_files["client.pem"]),
        MQTT_KEY_FILE=str(tls_files["client.key"]),
    )
    assert "needs TLS: make KILOWATCH_MQTT_URL mqtts://" in message


def test_missing_files_and_a_key_of_another_certificate_are_named(
    tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KILOWATCH_MQTT_URL", "mqtts://iot.example.com:8883")
    monkeypatch.setenv("KILOWATCH_MQTT_KEY_FILE", str(tls_files["client.key"]))
    missing = problem(monkeypatch, MQTT_CERT_FILE=str(tmp_path / "nope.pem"))
    assert missing == (
        f"KILOWATCH_MQTT_CERT_FILE: client certificate {tmp_path / 'nope.pem'} does not exist"
    )
    wrong_key = problem(
        monkeypatch,
        MQTT_CERT_FILE=str(tls_files["client.pem"]),
        MQTT_KEY_FILE=str(tls_files["server.key"]),
    )
    assert wrong_key.startswith("KILOWATCH_MQTT_KEY_FILE:")
    assert "is not the PEM private key of the certificate" in wrong_key


def test_the_env_file_register_device_writes_gives_the_agent_its_certificate(
    tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = agent_settings_text(
        thing_name="edge-1",
        plant="hmo",
        endpoint="abc123-ats.iot.eu-west-1.amazonaws.com",
        cert_file=tls_files["client.pem"],
        key_file=tls_files["client.key"],
        ca_file=tls_files["ca.pem"],
    )
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = AgentSettings.load()
    assert settings.mqtt_client_id == "edge-1"
    assert settings.mqtt.tls and settings.mqtt.port == 8883
    assert settings.mqtt_ca_path == str(tls_files["ca.pem"])
    assert settings.mqtt_client_cert == ClientCertificate(
        str(tls_files["client.pem"]), str(tls_files["client.key"])
    )
