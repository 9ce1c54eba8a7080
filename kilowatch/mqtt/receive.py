"""The bridge's two MQTT receive paths, one interface (`on_publishes`, `ack_many`): BatchClient,
a paho client that receives PUBLISH packets in batches and acknowledges them in batches, and
PahoClient, paho's own path (setting KILOWATCH_MQTT_RECEIVE=paho).

Per message, paho does much more than the bridge needs: three or more recv() calls, a packet
state machine, an MQTTMessage, two locks and a callback; and per PUBACK, a queued packet, a
wake-up of its thread and a send(). Each recv() or lock also lets the bridge's other threads
take the GIL, and the network thread waits to get it back. So this client reads the socket
64 KiB at a time, decodes every complete QoS 0/1 PUBLISH in that chunk itself and hands them
over in one `on_publishes` call; `ack_many` queues all the PUBACKs of a stored batch as one
write. Everything else (connecting, TLS, keepalive, subscriptions, a packet split across
reads, QoS 2, MQTT 5) is still paho's.

It relies on paho 2.x internals: `_sock_recv`, `_sock_close`, `loop_read`, `_in_packet`,
`_packet_queue`, `_last_bytes_received` (paho is pinned below 3;
tests/mqtt/test_batch_client.py checks each of them against a real broker).
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, _ConnectionState

CHUNK_BYTES = 65536
PAUSE_POLL_S = 0.05  # while reading is paused, how often the network thread still does its chores
_PUBLISH = 0x30
_PUBACK = 0x40
_PUBACK_HEAD = 0x4002  # PUBACK, remaining length 2


class Publish(NamedTuple):
    """A received PUBLISH: what the bridge needs of it, and what acknowledging it needs."""

    topic: str
    payload: bytes
    mid: int
    qos: int


OnPublishes = Callable[[mqtt.Client, list[Publish]], None]


class PausableClient(mqtt.Client):
    """paho's Client whose socket reading the receiver can pause (flow control) while the
    network thread goes on sending: PUBACKs, publishes and, above all, the keepalive.

    Waiting in the publish callback instead would stop the keepalive too: a broker that hears
    nothing for 1.5 x keepalive drops the connection and redelivers every unacknowledged message.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_paused = False
        self._read_resumed = threading.Event()
        self.paused_since = 0.0  # time.monotonic() when reading was last paused

    @property
    def reading_paused(self) -> bool:
        return self._read_paused

    def pause_reading(self) -> None:
        """Stop reading the socket (from any thread; the read in progress is finished)."""
        self._read_resumed.clear()
        if not self._read_paused:
            self.paused_since = time.monotonic()
        self._read_paused = True

    def resume_reading(self) -> None:
        """Read the socket again (from any thread)."""
        self._read_paused = False
        self._read_resumed.set()

    def _wait_while_paused(self) -> bool:
        """True (after a short wait) when this loop_read must not read; never while connecting,
        since the CONNACK must be read."""
        if not self._read_paused or self._state != _CONNECTED:
            return False
        self._read_resumed.wait(PAUSE_POLL_S)  # select() sees the unread bytes: no busy loop
        return self._read_paused

    def _check_keepalive(self) -> None:
        if self._read_paused:
            # The broker's bytes (its PINGRESPs among them) wait unread on purpose: that is not
            # a silent broker. paho then goes on sending PINGREQs every keepalive, so the broker
            # keeps the connection; a dead one still shows as a failed write.
            with self._msgtime_mutex:
                self._last_bytes_received = mqtt.time_func()
        super()._check_keepalive()


class BatchClient(PausableClient):
    """paho's Client, with publishes received and acknowledged in batches.

    Set `on_publishes` (not on_message): it is called on the network thread with every
    publish of a socket read, in order. Filtered callbacks (message_callback_add) are not
    supported.
    """

    _rbuf = b""
    _rpos = 0
    _may_read = True  # one socket read per loop_read: PUBACKs and keepalive get their turn
    on_publishes: OnPublishes | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Publishes paho decodes itself (the first of a read, split or QoS 2 ones) come here.
        self.on_message = self._one_publish

    def ack_many(self, mids: Sequence[int]) -> None:
        """Queue the PUBACKs of these QoS 1 messages as one write (thread-safe, like publish)."""
        if mids:
            values = [half for mid in mids for half in (_PUBACK_HEAD, mid)]
            self._packet_queue(_PUBACK, struct.pack(f">{len(values)}H", *values), 0, 0)

    def _one_publish(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        # paho calls this holding _in_callback_mutex already.
        topic = msg._topic.decode("utf-8", errors="replace")  # .topic raises on bad UTF-8
        if self.on_publishes is not None:
            self.on_publishes(self, [Publish(topic, bytes(msg.payload), msg.mid, msg.qos)])

    # Reading

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            if not self._may_read:
                # paho keeps a packet cut here for the next loop_read; select() still sees the
                # unread bytes.
                raise BlockingIOError
            self._may_read = False
            data = self._read_chunk(max(bufsize, CHUNK_BYTES))
            if len(data) <= bufsize:
                return data
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start : self._rpos]

    def _read_chunk(self, size: int) -> bytes:
        """Up to `size` bytes: what one recv() gives (or raises, as paho expects), then what is
        already there. TLS hands over one record per recv(), and Mosquitto sends each packet in
        a record of its own: without this, every packet would go through paho one at a time."""
        parts = [super()._sock_recv(size)]
        got = len(parts[0])
        while parts[-1] and got < size:
            try:
                parts.append(super()._sock_recv(size - got))
            except OSError:  # nothing more yet (BlockingIOError), or an error the next read sees
                break
            got += len(parts[-1])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _sock_close(self) -> None:
        # Bytes of a closed connection must never be read as the start of the next one.
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho reads the first packet (which fills the buffer); the publishes after it are
        # decoded here in bulk; anything else goes back to paho, one packet at a time.
        # Packets already in the buffer must be handled now: select() will not report them.
        if self._wait_while_paused():
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        self._may_read = True
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
            if self._in_packet["command"] == 0 and self._protocol != mqtt.MQTTv5:
                self._take_publishes()
                if self._rpos >= len(self._rbuf):
                    break
            rc = super().loop_read(1)
        return rc

    def _take_publishes(self) -> None:
        """Decode the complete QoS 0/1 PUBLISH packets at the front of the buffer."""
        buf, pos, end = self._rbuf, self._rpos, len(self._rbuf)
        publishes = []
        while pos < end:
            header = buf[pos]
            if header & 0xF0 != _PUBLISH or header & 0x06 > 0x02:  # not a QoS 0/1 publish
                break
            length, shift, i = 0, 0, pos + 1
            while i < end and i - pos <= 4:
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if byte < 0x80:
                    break
            else:
                break  # the length is cut off (or malformed): paho reads it
            packet_end = i + length
            if packet_end > end or length < 2:
                break  # the packet is cut off (or malformed): paho reads it
            topic_end = i + 2 + (buf[i] << 8 | buf[i + 1])
            qos = (header >> 1) & 0x03
            payload_start = topic_end + 2 * qos
            if payload_start > packet_end:
                break  # malformed: paho reports it
            topic = buf[i + 2 : topic_end].decode("utf-8", errors="replace")
            mid = buf[topic_end] << 8 | buf[topic_end + 1] if qos else 0
            publishes.append(Publish(topic, buf[payload_start:packet_end], mid, qos))
            pos = packet_end
        self._rpos = pos
        if publishes:
            with self._msgtime_mutex:
                self._last_bytes_received = mqtt.time_func()
            if self.on_publishes is not None:
                with self._in_callback_mutex:  # as paho holds it around its own callbacks
                    self.on_publishes(self, publishes)


class PahoClient(PausableClient):
    """paho's own receive path behind BatchClient's interface: each publish handed over alone
    (`on_publishes` with a list of one), each PUBACK sent alone. Slower (about 4x the CPU per
    message) but on paho's public API only: the fallback if a paho release breaks BatchClient.
    """

    on_publishes: OnPublishes | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_message = self._one_publish

    def ack_many(self, mids: Sequence[int]) -> None:
        """Send the PUBACKs of these QoS 1 messages, one by one (thread-safe, like publish)."""
        for mid in mids:
            self.ack(mid, 1)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self._wait_while_paused():
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super().loop_read(max_packets)

    def _one_publish(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        topic = msg._topic.decode("utf-8", errors="replace")  # .topic raises on bad UTF-8
        if self.on_publishes is not None:
            self.on_publishes(self, [Publish(topic, bytes(msg.payload), msg.mid, msg.qos)])


_CONNECTED = _ConnectionState.MQTT_CS_CONNECTED
ReceivePath = Literal["batch", "paho"]
ReceiveClient = BatchClient | PahoClient
RECEIVE_CLIENTS: dict[ReceivePath, type[ReceiveClient]] = {
    "batch": BatchClient,
    "paho": PahoClient,
}
