"""Publishing to a real Mosquitto: PUBACKs return the rows; TLS and password from the env."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kilowatch.agent.publisher import Event, Publisher
from kilowatch.agent.settings import AgentSettings
from tests.support.services import Mosquitto

pytestmark = pytest.mark.integration


def wait_for_event(
    publisher: Publisher, wanted: Callable[[Event], bool], timeout_s: float = 20
) -> list[Event]:
    """Handle events until one is wanted; all the events seen, in order."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            event = publisher.events.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(event)
        if wanted(event):
            return seen
    raise AssertionError(f"no such event within {timeout_s} s; saw {seen}")


def acked_ids(publisher: Publisher, count: int) -> list[int]:
    ids: list[int] = []
    deadline = time.monotonic() + 20
    while len(ids) < count:
        assert time.monotonic() < deadline, f"only {ids} acknowledged"
        try:
            ids += publisher.handle(publisher.events.get(timeout=0.1))
        except queue.Empty:
            continue
    return ids


def test_each_puback_returns_the_rows_its_message_carried(mosquitto: Mosquitto) -> None:
    publisher = Publisher(
        AgentSettings(mqtt_url=mosquitto.url).mqtt, "agent-under-test", reconnect_max_s=1
    )
    publisher.start()
    try:
        seen = wait_for_event(publisher, lambda e: e.kind == "connected")
        for event in seen:
            publisher.handle(event)
        publisher.publish("kilowatch/p/m/readings", b'{"ts": 1, "energy_kwh": 1}', (1,))
        publisher.publish("kilowatch/p/m/readings", b'[{"ts": 2, "energy_kwh": 1}]', (2, 3))
        publisher.publish_untracked("kilowatch/p/_agents/a/status", b'{"ts": 3}')
        assert publisher.inflight_readings == 3
        assert sorted(acked_ids(publisher, 3)) == [1, 2, 3]
        assert publisher.inflight_messages == 0
    finally:
        publisher.stop()


def tls_publisher(
    broker: Mosquitto, monkeypatch: pytest.MonkeyPatch, ca: Path | None, password: str
) -> Publisher:
    """A publisher configured from KILOWATCH_* variables only, as the agent is."""
    monkeypatch.setenv("KILOWATCH_MQTT_URL", f"mqtts://127.0.0.1:{broker.port}")
    monkeypatch.setenv("KILOWATCH_MQTT_USERNAME", "edge-1")
    monkeypatch.setenv("KILOWATCH_MQTT_PASSWORD", password)
    if ca is not None:
        monkeypatch.setenv("KILOWATCH_MQTT_CA_FILE", str(ca))
    settings = AgentSettings.load()
    ca_file = None if settings.mqtt_ca_file is None else str(settings.mqtt_ca_file)
    return Publisher(settings.mqtt, "edge-1-tls", ca_file=ca_file, reconnect_max_s=1)


def test_mqtts_with_a_ca_file_and_a_password_from_the_environment(
    tls_broker: Mosquitto, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = tls_publisher(tls_broker, monkeypatch, tls_files["ca.pem"], "right-one")
    publisher.start()
    try:
        for event in wait_for_event(publisher, lambda e: e.kind == "connected"):
            publisher.handle(event)
        publisher.publish("kilowatch/p/m/readings", b'{"ts": 1, "energy_kwh": 1}', (7,))
        assert acked_ids(publisher, 1) == [7]
    finally:
        publisher.stop()


def test_a_wrong_password_is_refused(
    tls_broker: Mosquitto, tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = tls_publisher(tls_broker, monkeypatch, tls_files["ca.pem"], "wrong")
    publisher.start()
    try:
        seen = wait_for_event(publisher, lambda e: e.kind == "refused")
        assert "connected" not in [e.kind for e in seen]
        assert "authori" in seen[-1].detail.lower()  # "Not authorized"
    finally:
        publisher.stop()


def test_a_broker_certificate_not_signed_by_the_ca_is_not_trusted(
    tls_broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = tls_publisher(tls_broker, monkeypatch, None, "right-one")  # system CAs only
    publisher.start()
    try:
        seen = wait_for_event(publisher, lambda e: e.kind == "unreachable")
        assert "connected" not in [e.kind for e in seen]
    finally:
        publisher.stop()
