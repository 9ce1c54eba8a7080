"""MQTT out: QoS 1 publishes, at most `max_unacked` awaiting their PUBACK at any time.

The bound is what makes a backfill safe: the publisher waits for the broker instead of piling
messages up in memory, and a message counts as delivered only once the broker acknowledged it.
paho re-sends unacknowledged messages itself after a reconnect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kilowatch.mqtt.connection import (
    ClientCertificate,
    MqttTarget,
    login_refused_for_good,
    mqtt_client,
)
from kilowatch.mqtt.inflight import InFlight

logger = logging.getLogger(__name__)

_CONNECTED_WAIT_S = 0.5  # how often waiting for the connection looks at its stop event


class MqttSink:
    """A connected paho client that publishes with QoS 1 and counts PUBACKs."""

    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        *,
        max_unacked: int,
        ca_file: str | None = None,
        client_cert: ClientCertificate | None = None,
        on_refused: Callable[[], object] | None = None,
    ) -> None:
        self._target = target
        self._on_refused = on_refused
        self._ever_connected = False
        self._connected = threading.Event()  # set while connected (paho's thread sets it)
        self.refused: str | None = None  # why the broker refused the login for good
        self._max_unacked = max_unacked
        # No subscriptions, so no session worth keeping; paho still re-sends unacknowledged
        # publishes on reconnect, and the bridge stores a duplicate once.
        self._client = mqtt_client(
            target,
            client_id,
            persistent=False,
            ca_file=ca_file,
            client_cert=client_cert,
            max_inflight=max_unacked,
        )
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        # PUBACKs can beat publish() to recording the message id: early_acks.
        self._inflight: InFlight[bool] = InFlight(early_acks=True)
        self._closing = False

    @property
    def published(self) -> int:
        return self._inflight.published

    @property
    def acknowledged(self) -> int:
        return self._inflight.acknowledged

    @property
    def unacked(self) -> int:
        """Messages published and not yet acknowledged."""
        return len(self._inflight)

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting while the broker is away."""
        self._client.connect_async(self._target.host, self._target.port)
        self._client.loop_start()

    @property
    def ever_connected(self) -> bool:
        """Whether the broker accepted a connection at least once."""
        return self._ever_connected

    def wait_for_room(self, stop: threading.Event) -> bool:
        """Block until connected and another message may be published; False if `stop` was
        set first. Nothing is handed to paho while disconnected: a message queued there is not
        published, and a backfill must not claim to be done before the broker took any."""
        while not self._connected.wait(_CONNECTED_WAIT_S):
            if stop.is_set():
                return False
        return self._inflight.wait_below(self._max_unacked, stop)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1; the broker's PUBACK is counted when it arrives."""
        info = self._client.publish(topic, payload, qos=1)
        # Not holding a lock around publish(): paho calls on_publish with its own lock held.
        self._inflight.sent(info.mid, True)

    def flush(self, timeout_s: float, abort: threading.Event) -> int:
        """Wait up to timeout_s (or until `abort`) for outstanding PUBACKs; how many are missing.

        Never connected: none can come, so no wait at all."""
        if not self._ever_connected:
            return self.unacked
        return self._inflight.wait_empty(timeout_s, abort)

    def close(self) -> None:
        """Disconnect and stop paho's thread."""
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()

    # paho's network thread

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.error("broker %s refused the connection: %s", self._target, reason)
            if login_refused_for_good(reason.value, self._ever_connected):
                self.refused = (
                    f"the broker {self._target} refused the simulator's login ({reason}); check "
                    "the user name and password in --mqtt-url (or KILOWATCH_MQTT_URL)"
                )
                self._client.disconnect()
                if self._on_refused is not None:
                    self._on_refused()
        else:
            self._ever_connected = True
            self._connected.set()
            logger.info("connected to %s", self._target)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        logger.warning("cannot reach broker %s; retrying", self._target)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._closing:
            logger.warning("disconnected from %s (%s); reconnecting", self._target, reason)

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        self._inflight.acked(mid)
