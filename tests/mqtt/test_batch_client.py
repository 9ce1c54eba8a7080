"""The bridge's batch client receives exactly what a plain paho client receives, and its batched
PUBACKs acknowledge exactly the messages they name."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.mqtt.connection import MqttTarget, mqtt_client
from kilowatch.mqtt.receive import BatchClient, Publish
from tests.support.services import Mosquitto, publish_lines, require_binary


def publish_packet(topic: str, payload: bytes, qos: int, mid: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet, encoded here independently of paho and of the client."""
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    body += mid.to_bytes(2, "big") if qos else b""
    body += payload
    length, remaining = bytearray(), len(body)
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length.append(byte | (0x80 if remaining else 0))
        if not remaining:
            break
    return bytes([0x30 | qos << 1]) + bytes(length) + body


_publishes = st.lists(
    st.builds(
        Publish,
        topic=st.text(min_size=1, max_size=40),
        # Up to 3 bytes of remaining length: 20,000 bytes needs them.
        payload=st.binary(max_size=300) | st.integers(100, 20_000).map(lambda n: b"p" * n),
        mid=st.integers(1, 65535),
        qos=st.integers(0, 1),
    ),
    max_size=20,
)


@given(_publishes, st.integers(0, 200_000))
def test_decodes_every_whole_publish_and_leaves_a_cut_one_to_paho(
    publishes: list[Publish], cut: int
) -> None:
    packets = [publish_packet(p.topic, p.payload, p.qos, p.mid if p.qos else 0) for p in publishes]
    data = b"".join(packets)
    cut = min(cut, len(data))
    client = BatchClient(mqtt.CallbackAPIVersion.VERSION2)
    got: list[Publish] = []
    client.on_publishes = lambda _c, batch: got.extend(batch)
    client._rbuf, client._rpos = data[:cut], 0
    client._take_publishes()

    whole, ends = 0, 0
    for packet in packets:  # the packets that fit entirely before the cut
        if ends + len(packet) > cut:
            break
        ends += len(packet)
        whole += 1
    expected = [p._replace(mid=p.mid if p.qos else 0) for p in publishes[:whole]]
    assert got == expected
    assert client._rpos == ends  # a cut packet is left, from its first byte, for paho


@pytest.mark.parametrize(
    "follower",
    [
        pytest.param(b"\x90\x03\x00\x01\x01", id="suback"),
        pytest.param(publish_packet("a/b", b"2", 2, 8), id="qos-2"),
        pytest.param(b"\x36\x06\x00\x01a\x00\x01z", id="qos-3"),
        pytest.param(b"\x30\xff\xff\xff\xff\x7f", id="5-byte-length"),
        pytest.param(b"\x30\x04\x00\x09ab", id="topic-longer-than-packet"),
        pytest.param(b"\x32\x04\x00\x02ab", id="no-room-for-packet-id"),
        pytest.param(b"\x30\x01\x00", id="no-topic-length"),
    ],
)
def test_leaves_other_and_malformed_packets_to_paho(follower: bytes) -> None:
    client = BatchClient(mqtt.CallbackAPIVersion.VERSION2)
    got: list[Publish] = []
    client.on_publishes = lambda _c, batch: got.extend(batch)
    first = publish_packet("a/b", b"1", 1, 7)
    client._rbuf, client._rpos = first + follower, 0
    client._take_publishes()
    assert got == [Publish("a/b", b"1", 7, 1)]
    assert client._rpos == len(first)


batch_sizes: list[int] = []  # of the last receive(), call by call


def receive(
    broker: Mosquitto,
    expected: int,
    after_connect: Callable[[BatchClient], None],
    *,
    client_id: str = "batch-test",
    ack: bool = True,
    url: str | None = None,
    ca_file: Path | None = None,
) -> list[Publish]:
    """Subscribe to t/# at QoS 1 and collect `expected` publishes (acknowledging them)."""
    got: list[Publish] = []
    batch_sizes.clear()
    done, subscribed = threading.Event(), threading.Event()
    client = mqtt_client(
        MqttTarget.from_url(url or broker.url),
        client_id,
        manual_ack=True,
        client_class=BatchClient,
        ca_file=None if ca_file is None else str(ca_file),
    )
    assert isinstance(client, BatchClient)

    def on_publishes(c: BatchClient, batch: list[Publish]) -> None:
        got.extend(batch)
        batch_sizes.append(len(batch))
        if ack:
            c.ack_many([p.mid for p in batch if p.qos == 1])
        if len(got) >= expected:
            done.set()

    client.on_publishes = on_publishes
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe("t/#", qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        after_connect(client)
        assert expected == 0 or done.wait(60), f"received {len(got)} of {expected}"
    finally:
        client.disconnect()
        client.loop_stop()
    return got


@pytest.mark.integration
def test_every_message_arrives_whole_and_in_order(mosquitto: Mosquitto) -> None:
    # Sizes around the 64 KiB chunk: packets split across reads, many in one read.
    payloads = [("x" * size) + f"#{i}" for i, size in enumerate([1, 10, 70_000, 5, 65_530] * 200)]
    payloads += [f"small-{i}" for i in range(3000)]  # thousands in a read: the batch path
    got = receive(mosquitto, len(payloads), lambda _c: publish_lines(mosquitto, "t/a", payloads))
    assert [p.payload for p in got] == [p.encode() for p in payloads]
    assert {(p.topic, p.qos) for p in got} == {("t/a", 1)}
    assert max(batch_sizes) > 1  # the batch path took part (paho hands over one at a time)


@pytest.mark.integration
def test_every_message_arrives_over_tls(tls_broker: Mosquitto, tls_files: dict[str, Path]) -> None:
    # TLS hands data over a record (16 KiB) at a time, and keeps decrypted bytes select() does
    # not see: packets are cut in other places than on a plain socket.
    payloads = [("y" * size) + f"#{i}" for i, size in enumerate([3, 40_000, 17, 16_380] * 150)]
    payloads += [f"small-{i}" for i in range(2000)]
    login = ["-u", "edge-1", "-P", "right-one", "--cafile", str(tls_files["ca.pem"])]

    def publish(_client: BatchClient) -> None:
        argv = [require_binary("mosquitto_pub", "mosquitto-clients"), *tls_broker.client_args()]
        subprocess.run(
            [*argv, *login, "-q", "1", "-t", "t/tls", "-l"],
            input="".join(f"{p}\n" for p in payloads).encode(),
            check=True,
            capture_output=True,
            timeout=120,
        )

    got = receive(
        tls_broker,
        len(payloads),
        publish,
        url=f"mqtts://edge-1:right-one@127.0.0.1:{tls_broker.port}",
        ca_file=tls_files["ca.pem"],
    )
    assert [p.payload for p in got] == [p.encode() for p in payloads]
    assert max(batch_sizes) > 1


@pytest.mark.integration
def test_qos_0_messages_arrive_without_a_message_id(mosquitto: Mosquitto) -> None:
    payloads = [f"q0-{i}" for i in range(500)]
    got = receive(mosquitto, 500, lambda _c: publish_lines(mosquitto, "t/zero", payloads, qos=0))
    assert [(p.payload, p.qos, p.mid) for p in got] == [(p.encode(), 0, 0) for p in payloads]


@pytest.mark.integration
def test_a_dropped_connection_leaves_no_stale_bytes(mosquitto: Mosquitto) -> None:
    def drop_then_publish(client: BatchClient) -> None:
        publish_lines(mosquitto, "t/a", ["before"] * 50)
        client._sock_close()  # as a network failure would; paho reconnects
        publish_lines(mosquitto, "t/a", [f"after-{i}" for i in range(50)])

    got = receive(mosquitto, 100, drop_then_publish)
    after = [p.payload for p in got if p.payload.startswith(b"after")]
    assert after == [f"after-{i}".encode() for i in range(50)]


@pytest.mark.integration
def test_batched_pubacks_acknowledge_exactly_the_messages_they_name(mosquitto: Mosquitto) -> None:
    payloads = [f"m-{i}" for i in range(800)]  # all within the broker's in-flight window
    acked: set[bytes] = set()

    def publish_and_ack_even_ones(client: BatchClient) -> None:
        received: list[Publish] = []
        all_in = threading.Event()

        def on_publishes(_c: BatchClient, batch: list[Publish]) -> None:
            received.extend(batch)
            if len(received) >= len(payloads):
                all_in.set()

        client.on_publishes = on_publishes
        publish_lines(mosquitto, "t/a", payloads)
        assert all_in.wait(60)
        even = [p for p in received if int(p.payload.split(b"-")[1]) % 2 == 0]
        client.ack_many([p.mid for p in even])
        acked.update(p.payload for p in even)
        client.disconnect()  # sent after the PUBACKs queued before it
        # Reconnecting before the broker has read them would discard them with the old socket.
        assert mosquitto.process is not None
        mosquitto.process.wait_for_log("Client batch-acks disconnected", timeout_s=10)

    first = receive(mosquitto, 0, publish_and_ack_even_ones, client_id="batch-acks", ack=False)
    assert first == []  # on_publishes was replaced before any message came
    # The same persistent session again: the broker redelivers only what was not acknowledged.
    again = receive(mosquitto, 400, lambda _c: None, client_id="batch-acks")
    assert sorted(p.payload for p in again) == sorted(
        p.encode() for p in payloads if p.encode() not in acked
    )
