"""The shipped Mosquitto config (provisioning/mosquitto/), run for real: logins, ACL, queues.

The broker starts through entrypoint.sh exactly as the container would, with the container
paths (/mosquitto/...) mapped to a temporary directory and the listener on a free loopback port.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from kilowatch.contract import MAX_PAYLOAD_BYTES
from tests.support.services import (
    LOG_TYPES,
    MOSQUITTO_PROVISIONING,
    Login,
    Mosquitto,
    ServiceError,
    SessionSubscriber,
    publish_lines,
    require_binary,
)

pytestmark = pytest.mark.integration

BRIDGE: Login = ("bridge", "bridge-test-password")
PLANT_A: Login = ("plant-a", "a-test-password")
PLANT_B: Login = ("plant.b", "b:test:password")  # a colon inside a password must survive
NOT_AUTHORIZED = 135  # MQTT 5 reason code for an ACL denial
WAIT_S = 30.0


class ProductMosquitto(Mosquitto):
    """Mosquitto started by provisioning/mosquitto/entrypoint.sh with the shipped mosquitto.conf."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir=workdir)
        agents = "\n".join(f"{user}:{password}" for user, password in (PLANT_A, PLANT_B))
        self.env = {
            "KILOWATCH_MQTT_PASSWORD_FILE": str(workdir / "auth" / "passwd"),
            "KILOWATCH_MQTT_BRIDGE_PASSWORD": BRIDGE[1],
            "KILOWATCH_MQTT_AGENT_PASSWORDS": agents,
        }

    def _config_text(self) -> str:
        text = (MOSQUITTO_PROVISIONING / "mosquitto.conf").read_text()
        paths = {
            "/mosquitto/config/": f"{MOSQUITTO_PROVISIONING}/",
            "/mosquitto/data/": f"{self.dir}/data/",
            "/mosquitto/auth/": f"{self.dir}/auth/",
        }
        settings = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        if settings.count("/mosquitto/") != sum(settings.count(path) for path in paths):
            raise ServiceError(
                "mosquitto.conf uses a new container path: map it in ProductMosquitto"
            )
        for container_path, here in paths.items():
            text = text.replace(container_path, here)
        text = text.replace("\nlistener 1883\n", f"\nlistener {self.port} {self.host}\n")
        if f"listener {self.port}" not in text:
            raise ServiceError("mosquitto.conf has no 'listener 1883' line to move to a test port")
        (self.dir / "data").mkdir(exist_ok=True)
        # The container starts as root and drops to user mosquitto, who cannot enter pytest's
        # private temporary directories; here the broker stays root.
        log_types = "".join(f"log_type {kind}\n" for kind in LOG_TYPES)  # wait_for_subscription
        return f"user root\n{text}{log_types}"

    def _argv(self, executable: str, config: Path) -> list[str]:
        return [str(MOSQUITTO_PROVISIONING / "entrypoint.sh"), executable, "-c", str(config)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ProductMosquitto]:
    with ProductMosquitto(tmp_path / "mosquitto") as server:
        yield server


class Client:
    """A paho MQTT 5 client that waits for each acknowledgement and keeps its reason code."""

    def __init__(self, broker: Mosquitto, login: Login | None, client_id: str) -> None:
        self.paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if login is not None:
            self.paho.username_pw_set(*login)
        self.received: list[tuple[str, bytes]] = []
        self._acks: dict[str, ReasonCode] = {}
        self._acked = threading.Condition()
        self.paho.on_connect = lambda _c, _u, _f, code, _p: self._ack("connect", code)
        self.paho.on_publish = lambda _c, _u, mid, code, _p: self._ack(f"publish {mid}", code)
        self.paho.on_subscribe = lambda _c, _u, mid, codes, _p: self._ack(
            f"subscribe {mid}", codes[0]
        )
        self.paho.on_message = lambda _c, _u, msg: self._receive(msg)
        self.paho.connect(broker.host, broker.port)
        self.paho.loop_start()

    def _ack(self, what: str, code: ReasonCode) -> None:
        with self._acked:
            self._acks[what] = code
            self._acked.notify_all()

    def _receive(self, message: mqtt.MQTTMessage) -> None:
        with self._acked:
            self.received.append((message.topic, message.payload))
            self._acked.notify_all()

    def wait_for_messages(self, count: int) -> list[tuple[str, bytes]]:
        """The (topic, payload) pairs received, once there are at least `count` (or WAIT_S)."""
        with self._acked:
            self._acked.wait_for(lambda: len(self.received) >= count, timeout=WAIT_S)
            return list(self.received)

    def wait(self, what: str) -> int:
        """The reason code of an acknowledgement (0 is success), waiting for it."""
        with self._acked:
            if not self._acked.wait_for(lambda: what in self._acks, timeout=WAIT_S):
                raise AssertionError(f"no {what} acknowledgement within {WAIT_S} s")
            return self._acks[what].value

    def publish(self, topic: str, payload: str) -> int:
        """Publish with QoS 1; the PUBACK's reason code."""
        return self.wait(f"publish {self.paho.publish(topic, payload, qos=1).mid}")

    def subscribe(self, topic_filter: str) -> int:
        """Subscribe with QoS 1; the SUBACK's reason code (the granted QoS when allowed)."""
        _, mid = self.paho.subscribe(topic_filter, qos=1)
        return self.wait(f"subscribe {mid}")

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Clients a test opens are appended here and closed after it."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def test_agent_publishes_only_under_its_own_plant(
    broker: ProductMosquitto, clients: list[Client]
) -> None:
    bridge = Client(broker, BRIDGE, "bridge")
    agent = Client(broker, PLANT_A, "agent-a")
    clients += [bridge, agent]
    assert bridge.wait("connect") == 0
    assert agent.wait("connect") == 0
    assert bridge.subscribe("kilowatch/#") == 1

    assert agent.publish("kilowatch/plant-b/m1/readings", "forged") == NOT_AUTHORIZED
    assert agent.publish("kilowatch/plant-a/m1/readings", "own") == 0
    assert agent.publish("kilowatch/plant-a/_agents/edge-1/status", "status") == 0

    # QoS 1 from one publisher arrives in order: once "status" is in, "forged" would have been.
    assert bridge.wait_for_messages(2) == [
        ("kilowatch/plant-a/m1/readings", b"own"),
        ("kilowatch/plant-a/_agents/edge-1/status", b"status"),
    ]


def test_agent_reads_nothing_and_bridge_writes_nothing(
    broker: ProductMosquitto, clients: list[Client]
) -> None:
    bridge = Client(broker, BRIDGE, "bridge")
    agent = Client(broker, PLANT_B, "agent-b")
    clients += [bridge, agent]
    assert agent.wait("connect") == 0
    assert bridge.wait("connect") == 0
    assert bridge.subscribe("kilowatch/#") == 1

    # Mosquitto 2.0 grants the subscription and checks read access on each message instead.
    agent.subscribe("kilowatch/plant.b/#")
    assert agent.publish("kilowatch/plant.b/m1/readings", "own") == 0
    assert bridge.wait_for_messages(1) == [("kilowatch/plant.b/m1/readings", b"own")]
    # The broker queues a message to its subscribers before it sends the publisher's PUBACK, so
    # had the agent been allowed to read, its copy would have arrived before that PUBACK.
    assert agent.received == []
    assert bridge.publish("kilowatch/plant-a/m1/readings", "forged") == NOT_AUTHORIZED


@pytest.mark.parametrize(
    "login",
    [None, ("plant-a", "wrong-password"), ("nobody", "a-test-password")],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
def test_clients_without_valid_login_are_refused(
    broker: ProductMosquitto, clients: list[Client], login: Login | None
) -> None:
    client = Client(broker, login, "intruder")
    clients.append(client)
    assert client.wait("connect") != 0


def test_shipped_config_includes_the_no_loss_queue_limits(
    broker: ProductMosquitto, tmp_path: Path
) -> None:
    # Mosquitto's default keeps 1,000 messages for an offline client; the shipped limits keep
    # them all, so this shows include_dir really loads conf.d/no-loss-queues.conf.
    sent = [f"reading-{i}" for i in range(3000)]
    topic = "kilowatch/plant-a/m1/readings"
    subscriber = SessionSubscriber(broker, "bridge", topic, tmp_path / "sub.out", login=BRIDGE)
    subscriber.register()

    publish_lines(broker, topic, sent, login=PLANT_A)
    subscriber.connect()

    assert subscriber.drain(marker_login=PLANT_A) == sent


def test_queued_messages_survive_a_broker_restart(broker: ProductMosquitto, tmp_path: Path) -> None:
    topic = "kilowatch/plant-a/m1/readings"
    subscriber = SessionSubscriber(broker, "bridge", topic, tmp_path / "sub.out", login=BRIDGE)
    subscriber.register()
    publish_lines(broker, topic, ["before-restart"], login=PLANT_A)

    broker.restart()

    subscriber.connect()
    assert subscriber.drain(marker_login=PLANT_A) == ["before-restart"]


def test_agent_reads_only_its_own_plants_receipts(
    broker: ProductMosquitto, clients: list[Client]
) -> None:
    bridge = Client(broker, BRIDGE, "bridge")
    agent = Client(broker, PLANT_A, "agent-a")
    clients += [bridge, agent]
    assert bridge.wait("connect") == 0
    assert agent.wait("connect") == 0
    assert agent.subscribe("kilowatch/+/_agents/+/receipts") == 1

    assert bridge.publish("kilowatch/plant.b/_agents/edge-2/receipts", "not yours") == 0
    assert bridge.publish("kilowatch/plant-a/_agents/edge-1/receipts", "yours") == 0
    # In order from one publisher: once "yours" is in, "not yours" would have been.
    assert agent.wait_for_messages(1) == [("kilowatch/plant-a/_agents/edge-1/receipts", b"yours")]
    assert bridge.publish("kilowatch/plant-a/_agents/edge-1/status", "forged") == NOT_AUTHORIZED


def test_a_packet_over_the_contracts_limit_never_reaches_the_bridge(
    broker: ProductMosquitto, clients: list[Client]
) -> None:
    bridge = Client(broker, BRIDGE, "bridge")
    clients.append(bridge)
    assert bridge.wait("connect") == 0
    assert bridge.subscribe("kilowatch/#") == 1
    longest = f"kilowatch/{'p' * 64}/{'m' * 64}/readings"
    mosquitto_pub = [
        require_binary("mosquitto_pub", "mosquitto-clients"),
        *broker.client_args(PLANT_A),
    ]
    too_large = subprocess.run(  # 3.1.1: the broker has no way to tell it the limit
        [*mosquitto_pub, "-q", "1", "-t", "kilowatch/plant-a/m1/readings", "-s"],
        input=b"x" * (MAX_PAYLOAD_BYTES + 1024),
        capture_output=True,
        timeout=30,
        check=False,
    )
    largest = b"y" * MAX_PAYLOAD_BYTES  # under the plant's own prefix, the longest ids
    subprocess.run(
        [*mosquitto_pub, "-q", "1", "-t", longest.replace("p" * 64, "plant-a"), "-s"],
        input=largest,
        check=True,
        timeout=30,
    )
    # The broker disconnected the first publisher; had it passed the larger payload on, it
    # would have arrived first (it was acknowledged, or refused, before the second was sent).
    received = bridge.wait_for_messages(1)
    assert [len(payload) for _, payload in received] == [MAX_PAYLOAD_BYTES]
    assert too_large.returncode != 0
