"""A real Grafana in a container (testcontainers), the image docker-compose.yml pins.

Needs a Docker engine: `running_grafana` skips the test (with the reason) where none answers.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.services import require_docker

REPO_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 120


def compose_grafana_image(compose: Path = REPO_ROOT / "docker-compose.yml") -> str:
    """The Grafana image docker-compose.yml runs (e.g. grafana/grafana:11.6.0)."""
    found = re.search(r"^\s*image:\s*(grafana/grafana\S*)\s*$", compose.read_text(), re.M)
    if found is None:
        raise AssertionError(f"{compose} runs no grafana/grafana image")
    return found.group(1)


@contextmanager
def running_grafana(
    env: Mapping[str, str] | None = None, volumes: Mapping[Path, str] | None = None
) -> Iterator[tuple[str, tuple[str, str]]]:
    """Grafana up and healthy: its URL and the admin login (a random password)."""
    require_docker()
    from testcontainers.core.container import DockerContainer

    password = secrets.token_hex(16)
    container = (
        DockerContainer(compose_grafana_image())
        .with_exposed_ports(3000)
        .with_env("GF_SECURITY_ADMIN_PASSWORD", password)
        .with_env("GF_ANALYTICS_REPORTING_ENABLED", "false")
    )
    for name, value in (env or {}).items():
        container = container.with_env(name, value)
    for host, inside in (volumes or {}).items():
        container = container.with_volume_mapping(str(host), inside)
    with container:
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(3000)}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if requests.get(f"{url}/api/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"Grafana not up within {START_TIMEOUT_S} s"
            time.sleep(1)
        yield url, ("admin", password)
