"""Flow control of both receive paths on a real broker: with reading paused nothing more is
handed over, yet the keepalive goes on, so the broker keeps the connection however long the
pause; resumed, every message arrives once."""

from __future__ import annotations

import threading
import time

import pytest

from kilowatch.mqtt.connection import MqttTarget, mqtt_client
from kilowatch.mqtt.receive import RECEIVE_CLIENTS, Publish, ReceivePath
from tests.support.services import Mosquitto, publish_lines

pytestmark = pytest.mark.integration

KEEPALIVE_S = 1
TOPIC = "kilowatch/hmo/m1/readings"


@pytest.mark.parametrize("path", ["batch", "paho"])
def test_a_pause_of_many_keepalives_keeps_the_connection(
    mosquitto: Mosquitto, path: ReceivePath
) -> None:
    client = mqtt_client(
        MqttTarget.from_url(mosquitto.url),
        f"pause-{path}",
        manual_ack=True,
        client_class=RECEIVE_CLIENTS[path],
    )
    received: list[Publish] = []
    connected = threading.Event()
    disconnects: list[object] = []
    client.on_publishes = lambda _c, batch: received.extend(batch)
    client.on_connect = lambda c, _u, _f, _r, _p: (c.subscribe(TOPIC, 1), connected.set())
    client.on_disconnect = lambda _c, _u, _f, reason, _p: disconnects.append(reason)
    client.connect_async(mosquitto.host, mosquitto.port, keepalive=KEEPALIVE_S)
    client.loop_start()
    try:
        assert connected.wait(10)
        time.sleep(0.5)  # the SUBACK
        client.pause_reading()
        publish_lines(mosquitto, TOPIC, [f"m{i}" for i in range(200)])
        time.sleep(8 * KEEPALIVE_S)  # the broker drops a client silent for 1.5 x keepalive
        assert len(received) <= 1  # at most a read already in progress when it paused
        client.resume_reading()
        deadline = time.monotonic() + 10
        while len(received) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        client.ack_many([p.mid for p in received])
    finally:
        client.disconnect()
        client.loop_stop()
    assert [p.payload for p in received] == [f"m{i}".encode() for i in range(200)]
    assert disconnects == [] or all(r == 0 for r in disconnects)  # only our own disconnect
    log = mosquitto.process.log_path.read_text() if mosquitto.process else ""
    assert "exceeded timeout" not in log
