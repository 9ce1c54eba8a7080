"""A long InfluxDB outage under sustained load (issue 13, section 2), on the real broker, bridge
and InfluxDB 1.x.

While InfluxDB is down the bridge's queue fills. It used to wait in paho's network thread then,
which also stopped the keepalive: the broker dropped the bridge after 1.5 x keepalive and
redelivered everything unacknowledged. Now it stops reading the socket while the network thread
goes on sending PINGREQs. Time is scaled: keepalive 2 s and an outage of 30 s (15 x keepalive)
stand for the issue's keepalive 30 s and an outage of several minutes.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.bridge.conftest import StartBridge, count_points, wait_for
from tests.support.services import InfluxDB1, Mosquitto, require_binary

pytestmark = pytest.mark.integration

TOPIC = "kilowatch/sea/assembly-02/readings"
START_TS = 1_700_000_000  # 225,000 readings 5 min apart end in January 2026
KEEPALIVE_S = 2
OUTAGE_S = 30  # 15 x keepalive
READINGS_PER_MESSAGE = 50
MESSAGES_PER_S = 100
PUBLISH_S = 45


def payloads(count: int) -> list[bytes]:
    """Arrays of READINGS_PER_MESSAGE consecutive readings with known energies."""
    out = []
    for m in range(count):
        first = m * READINGS_PER_MESSAGE
        readings = [
            {"ts": START_TS + (first + i) * 300, "energy_kwh": 1 + ((first + i) % 7) / 10}
            for i in range(READINGS_PER_MESSAGE)
        ]
        out.append(orjson.dumps(readings))
    return out


def publish_steadily(broker: Mosquitto, lines: list[bytes], per_s: float) -> threading.Thread:
    """`mosquitto_pub -l` in its own process, fed `per_s` lines a second (QoS 1)."""
    argv = [require_binary("mosquitto_pub", "mosquitto-clients"), *broker.client_args()]
    process = subprocess.Popen(
        [*argv, "-q", "1", "-t", TOPIC, "-l"], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin is not None

    def feed() -> None:
        assert process.stdin is not None
        started = time.monotonic()
        for n, line in enumerate(lines):
            delay = started + n / per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            process.stdin.write(line + b"\n")
            process.stdin.flush()
        process.stdin.close()
        assert process.wait(120) == 0, process.stderr.read() if process.stderr else ""

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def rss_mb(pid: int, which: str = "VmHWM") -> float:
    """The process's resident memory, now (VmRSS) or at its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{which}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {which} in /proc/{pid}/status")


def test_a_long_influxdb_outage_under_load_keeps_the_connection_and_loses_nothing(
    mosquitto: Mosquitto, influxdb_private: InfluxDB1, start_bridge: StartBridge
) -> None:
    influx, database = influxdb_private, "outage_under_load"
    influx.create_database(database)
    bridge = start_bridge(
        mosquitto,
        influx,
        database,
        extra_env={
            "KILOWATCH_MQTT_KEEPALIVE_S": str(KEEPALIVE_S),
            "KILOWATCH_MAX_PENDING_MB": "1",  # ~400 messages: full a few seconds into the outage
        },
    )
    rss_at_start_mb = rss_mb(bridge.pid, "VmRSS")
    lines = payloads(MESSAGES_PER_S * PUBLISH_S)
    publisher = publish_steadily(mosquitto, lines, MESSAGES_PER_S)
    time.sleep(5)
    assert count_points(influx, database) > 0
    influx.stop()
    time.sleep(OUTAGE_S)  # publishing goes on; the broker holds what the bridge does not read
    influx.start()
    publisher.join(120)
    total = len(lines) * READINGS_PER_MESSAGE
    wait_for("stored readings", lambda: count_points(influx, database), total, timeout_s=180)
    rows = influx.query('SELECT sum("energy_kwh") FROM energy', db=database)
    assert rows[0]["sum"] == pytest.approx(sum(1 + (i % 7) / 10 for i in range(total)))

    peak_mb = rss_mb(bridge.pid)
    log = bridge.log_path.read_text()
    broker_log = mosquitto.process.log_path.read_text() if mosquitto.process else ""
    paused_s = max(map(float, re.findall(r"reading the broker again after ([0-9.]+) s", log)))
    print(
        f"\nbridge RSS {rss_at_start_mb:.0f} MB at start, peak {peak_mb:.0f} MB; reading paused "
        f"{paused_s:.1f} s (keepalive {KEEPALIVE_S} s) during a {OUTAGE_S} s InfluxDB outage"
    )
    assert paused_s >= 10 * KEEPALIVE_S  # the queue stayed full for 10 keepalives and more
    assert "lost the broker" not in log  # never disconnected: nothing redelivered
    assert "exceeded timeout" not in broker_log
    assert peak_mb - rss_at_start_mb < 150  # bounded: a full queue is a few MB of payloads
