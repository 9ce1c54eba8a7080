"""MQTT publishing (paho 2): QoS 1, persistent session, each message's row ids kept until PUBACK.

paho runs its network loop in its own thread; its callbacks only put events on a queue, so
SQLite is touched by the agent's main thread alone. A QoS 1 message published before the
connection drops stays in paho's queue and is sent again (DUP) when the connection returns, so
its rows stay "in flight" until that PUBACK; if the process dies instead, the rows are still in
SQLite and go out again after the restart (the bridge stores a reading sent twice once).
With receipts (`delivery: stored`) it also subscribes to the agent's receipts topic and hands
each receipt to the main thread as an event.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt

from kilowatch.mqtt.connection import ClientCertificate, MqttTarget, mqtt_client
from kilowatch.mqtt.inflight import InFlight

logger = logging.getLogger(__name__)

EventKind = Literal[
    "connected", "refused", "disconnected", "unreachable", "acked", "receipt", "receipts_refused"
]


@dataclass(frozen=True, slots=True)
class Event:
    """Something the network thread saw: a connection change, a PUBACK (mid) or a receipt."""

    kind: EventKind
    mid: int = 0
    detail: str = ""  # a receipt's topic
    payload: bytes = b""  # a receipt's payload


class Publisher:
    """One MQTT connection for the agent: tracked readings messages and untracked status."""

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        *,
        ca_file: str | None = None,
        client_cert: ClientCertificate | None = None,
        keepalive_s: int = 30,
        reconnect_max_s: float = 30.0,
        receipts_topic: str | None = None,
    ) -> None:
        self.target = target
        self.receipts_topic = receipts_topic
        self.keepalive_s = keepalive_s
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.connected = False  # as last seen by the main thread (see handle())
        self._inflight: InFlight[tuple[int, ...]] = InFlight()  # row ids by message id
        # Receipts are acknowledged by ack_receipts() once applied to SQLite: a receipt must not
        # be lost with a process killed between its PUBACK and the commit.
        self._client = mqtt_client(
            target,
            client_id,
            persistent=True,
            ca_file=ca_file,
            client_cert=client_cert,
            manual_ack=receipts_topic is not None,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(reconnect_max_s)))
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    # Network thread: callbacks only report.
    def _on_connect(self, _c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.events.put(Event("refused", detail=str(reason)))
        else:
            session = "resumed" if flags.session_present else "new"
            if self.receipts_topic is not None:
                # Every connect: a new session (the broker lost its state) needs it again.
                self._client.subscribe(self.receipts_topic, qos=1)
            self.events.put(Event("connected", detail=f"{session} session"))

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self.events.put(Event("unreachable"))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.events.put(Event("disconnected", detail=str(reason)))

    def _on_publish(self, _c: Any, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        self.events.put(Event("acked", mid=mid))

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        topic = message._topic.decode("utf-8", errors="replace")  # .topic raises on bad UTF-8
        self.events.put(
            Event("receipt", mid=message.mid, detail=topic, payload=bytes(message.payload))
        )

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            self.events.put(Event("receipts_refused", detail=", ".join(map(str, reasons))))

    # Main thread.
    def start(self) -> None:
        """Connect in the background; paho keeps retrying until stop()."""
        self._client.connect_async(self.target.host, self.target.port, self.keepalive_s)
        self._client.loop_start()

    def handle(self, event: Event) -> tuple[int, ...]:
        """Apply an event; for a PUBACK of a tracked message, the row ids it carried."""
        if event.kind == "connected":
            self.connected = True
        elif event.kind in ("disconnected", "refused", "unreachable"):
            self.connected = False
        elif event.kind == "acked":
            return self._inflight.acked(event.mid) or ()
        return ()

    def publish(self, topic: str, payload: bytes, row_ids: tuple[int, ...]) -> None:
        """Publish readings (QoS 1); their ids come back from handle() on PUBACK."""
        info = self._client.publish(topic, payload, qos=1)
        # NO_CONN: the connection dropped meanwhile; paho keeps the message and sends it on
        # reconnect, so it is in flight all the same.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"paho refused to queue a message: {mqtt.error_string(info.rc)}")
        self._inflight.sent(info.mid, row_ids)

    def ack_receipts(self, mids: list[int]) -> None:
        """PUBACK receipts the agent has applied (committed), in the order they came."""
        for mid in mids:
            self._client.ack(mid, 1)

    def publish_untracked(self, topic: str, payload: bytes) -> None:
        """Publish something not stored in SQLite (status), QoS 1."""
        self._client.publish(topic, payload, qos=1)

    @property
    def inflight_messages(self) -> int:
        return len(self._inflight)

    @property
    def inflight_readings(self) -> int:
        return sum(map(len, self._inflight.carried()))

    def inflight_ids(self) -> set[int]:
        return {row_id for ids in self._inflight.carried() for row_id in ids}

    def stop(self) -> None:
        """Disconnect and end the network thread (unacknowledged rows stay in SQLite)."""
        self._client.disconnect()
        self._client.loop_stop()
