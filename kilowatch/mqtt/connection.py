"""Where the MQTT broker is (MqttTarget, from its URL) and a paho client set up for it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TypeVar, overload
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

DEFAULT_MQTT_URL = "mqtt://localhost:1883"
# CONNACK: bad user name or password, not authorized. The one policy of every kilowatch client:
# refused before it ever connected, the settings are wrong and the process exits (status 2);
# refused after it had connected (credentials rotated, ACL changed), it keeps retrying.
LOGIN_REFUSED = (134, 135)


def login_refused_for_good(reason_code: int, ever_connected: bool) -> bool:
    """True when a refused CONNECT means the settings are wrong (see LOGIN_REFUSED)."""
    return not ever_connected and reason_code in LOGIN_REFUSED


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """Where a broker is and how to log in: parsed from mqtt://user:pass@host:port or mqtts://."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str, setting: str = "the broker URL") -> MqttTarget:
        """Parse a broker URL, raising ValueError with a sentence that names the setting."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(
                f"{setting} must start with mqtt:// or mqtts://, got {url.split('://')[0]!r}"
            )
        if not parts.hostname:
            raise ValueError(f"{setting} has no host name: {parts.scheme}://HOST:PORT")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"{setting} has a port that is not a number 1-65535")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=(8883 if tls else 1883) if port is None else port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"  # never prints the password


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate and its private key (PEM files) for client-certificate TLS."""

    cert_file: str
    key_file: str


C = TypeVar("C", bound=mqtt.Client)


@overload
def mqtt_client(
    target: MqttTarget,
    client_id: str,
    *,
    persistent: bool = ...,
    ca_file: str | None = ...,
    client_cert: ClientCertificate | None = ...,
    manual_ack: bool = ...,
    max_inflight: int = ...,
) -> mqtt.Client: ...


@overload
def mqtt_client(
    target: MqttTarget,
    client_id: str,
    *,
    persistent: bool = ...,
    ca_file: str | None = ...,
    client_cert: ClientCertificate | None = ...,
    manual_ack: bool = ...,
    max_inflight: int = ...,
    client_class: type[C],
) -> C: ...


def mqtt_client(
    target: MqttTarget,
    client_id: str,
    *,
    persistent: bool = True,
    ca_file: str | None = None,
    client_cert: ClientCertificate | None = None,
    manual_ack: bool = False,
    max_inflight: int = 1000,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A paho 2 client (MQTT 3.1.1) set up for the target; not yet connected.

    persistent=True keeps the session on the broker (fixed id, clean_session False), so QoS 1
    messages queued while the client was away are delivered when it returns. `client_cert`
    logs in with a certificate (mqtts:// only), as AWS IoT Core requires.
    """
    client = client_class(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=not persistent,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if target.username:
        client.username_pw_set(target.username, target.password)
    if client_cert is not None and not target.tls:
        raise ValueError(f"a client certificate needs mqtts://, not {target}")
    if target.tls:
        client.tls_set(
            ca_certs=ca_file,
            certfile=client_cert.cert_file if client_cert else None,
            keyfile=client_cert.key_file if client_cert else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
