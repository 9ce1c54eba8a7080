"""Health checks for kilowatch's containers (standard library only; Docker runs them).

    python healthcheck.py mqtt     the process holds an open TCP connection to the MQTT broker
    python healthcheck.py bridge   that, and the bridge wrote its health point to InfluxDB lately

Settings come from the service's own environment (KILOWATCH_MQTT_URL, KILOWATCH_INFLUX_*,
KILOWATCH_MQTT_CLIENT_ID). Exit status 0 when healthy; otherwise 1 and a sentence on stderr,
which `docker inspect` shows.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

ESTABLISHED = "01"  # TCP state in /proc/net/tcp
PROC_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
HEALTH_MEASUREMENT = "kilowatch_bridge"
MAX_HEALTH_AGE_S = 60  # the bridge writes its health point every 10 s by default
TIMEOUT_S = 3.0


def broker_port(mqtt_url: str) -> int:
    """The broker's TCP port in a mqtt:// or mqtts:// URL."""
    parts = urllib.parse.urlsplit(mqtt_url)
    return parts.port or (8883 if parts.scheme == "mqtts" else 1883)


def established_remote_ports(tables: Iterable[str]) -> set[int]:
    """Remote ports of the established connections listed in /proc/net/tcp{,6} texts."""
    ports = set()
    for text in tables:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == ESTABLISHED:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def connected_to_broker(mqtt_url: str, tables: Iterable[str]) -> str | None:
    """None when a connection to the broker's port is open, else why not."""
    port = broker_port(mqtt_url)
    if port in established_remote_ports(tables):
        return None
    return f"no open connection to the MQTT broker's port {port} ({mqtt_url.split('@')[-1]})"


def health_query(client_id: str, max_age_s: int) -> str:
    """InfluxQL for the bridge's newest health point, if it is recent."""
    bridge = client_id.replace("\\", "\\\\").replace("'", "\\'")
    return (
        f'SELECT last("queue_depth") FROM "{HEALTH_MEASUREMENT}" '
        f"WHERE \"bridge\" = '{bridge}' AND time > now() - {max_age_s}s"
    )


def has_rows(body: Mapping) -> bool:
    """Whether an InfluxDB /query answer holds at least one row."""
    return any(
        series.get("values")
        for result in body.get("results", [])
        for series in result.get("series", [])
    )


def bridge_reported(env: Mapping[str, str], max_age_s: int = MAX_HEALTH_AGE_S) -> str | None:
    """None when the bridge's health point is in InfluxDB (v1 query API), else why not."""
    url = env.get("KILOWATCH_INFLUX_URL", "http://localhost:8086").rstrip("/")
    params = {
        "db": env.get("KILOWATCH_INFLUX_BUCKET", "kilowatch"),
        "q": health_query(env.get("KILOWATCH_MQTT_CLIENT_ID", "kilowatch-bridge"), max_age_s),
    }
    request = urllib.request.Request(f"{url}/query?{urllib.parse.urlencode(params)}")
    if env.get("KILOWATCH_INFLUX_TOKEN"):
        request.add_header("Authorization", f"Token {env['KILOWATCH_INFLUX_TOKEN']}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as err:
        return f"InfluxDB at {url} did not answer the health query: {err}"
    if not has_rows(body):
        return (
            f"no {HEALTH_MEASUREMENT} point from the bridge in InfluxDB in the last {max_age_s} s"
        )
    return None


def read_tables() -> list[str]:
    return [path.read_text() for path in PROC_TCP if path.exists()]


def main(argv: list[str], env: Mapping[str, str]) -> int:
    if len(argv) != 1 or argv[0] not in ("mqtt", "bridge"):
        print("usage: healthcheck.py mqtt|bridge", file=sys.stderr)
        return 2
    problem = connected_to_broker(
        env.get("KILOWATCH_MQTT_URL", "mqtt://localhost:1883"), read_tables()
    )
    if problem is None and argv[0] == "bridge":
        problem = bridge_reported(env)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
