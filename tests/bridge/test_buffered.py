"""The bridge's buffered paho client receives exactly what a plain client receives."""

from __future__ import annotations

import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from kilowatch.bridge.buffered import BufferedReadClient
from kilowatch.connections import MqttTarget, mqtt_client
from tests.services import Mosquitto, publish_lines

pytestmark = pytest.mark.integration


def receive(
    broker: Mosquitto, expected: int, after_connect: Callable[[mqtt.Client], None]
) -> list[bytes]:
    got: list[bytes] = []
    done, subscribed = threading.Event(), threading.Event()
    client = mqtt_client(
        MqttTarget.from_url(broker.url), "buffered-test", client_class=BufferedReadClient
    )

    def on_message(_c, _u, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        if len(got) >= expected:
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe("t/#", qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        after_connect(client)
        assert done.wait(60), f"received {len(got)} of {expected}"
    finally:
        client.loop_stop()
        client.disconnect()
    return got


def test_every_message_arrives_whole_and_in_order(mosquitto: Mosquitto) -> None:
    # Sizes around the 64 KiB chunk: packets split across reads, many in one read.
    payloads = [("x" * size) + f"#{i}" for i, size in enumerate([1, 10, 70_000, 5, 65_530] * 200)]
    got = receive(mosquitto, len(payloads), lambda _c: publish_lines(mosquitto, "t/a", payloads))
    assert got == [p.encode() for p in payloads]


def test_a_dropped_connection_leaves_no_stale_bytes(mosquitto: Mosquitto) -> None:
    def drop_then_publish(client: mqtt.Client) -> None:
        publish_lines(mosquitto, "t/a", ["before"] * 50)
        client._sock_close()  # as a network failure would; paho reconnects
        publish_lines(mosquitto, "t/a", [f"after-{i}" for i in range(50)])

    got = receive(mosquitto, 100, drop_then_publish)
    assert [p for p in got if p.startswith(b"after")] == [f"after-{i}".encode() for i in range(50)]
