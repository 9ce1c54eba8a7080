"""The alerting provisioning files loaded by a real Grafana (the image docker-compose.yml runs).

Needs a Docker engine (testcontainers); skipped where none answers, as here. Where it runs, it
proves what the format checks in test_build.py can only approximate: Grafana starts with the
files (a bad one stops it), and its provisioning API lists every rule, contact point and the
policy, with the ${KILOWATCH_ALERT_*} secrets replaced from the environment.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from kilowatch.alerts.build import RULES_FILE, render_all
from tests.support.services import require_docker

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA_IMAGE = "grafana/grafana:11.6.0"  # as in docker-compose.yml
START_TIMEOUT_S = 120
EMAIL = "energy-team@example.com"


@pytest.fixture(scope="module")
def grafana() -> Iterator[tuple[str, tuple[str, str]]]:
    require_docker()
    from testcontainers.core.container import DockerContainer

    password = secrets.token_hex(16)
    container = (
        DockerContainer(GRAFANA_IMAGE)
        .with_exposed_ports(3000)
        .with_env("GF_SECURITY_ADMIN_PASSWORD", password)
        .with_env("KILOWATCH_INFLUX_URL", "http://influxdb:8086")
        .with_env("KILOWATCH_INFLUX_BUCKET", "kilowatch")
        .with_env("KILOWATCH_INFLUX_TOKEN", "unused")
        .with_env("KILOWATCH_ALERT_EMAIL", EMAIL)
        .with_env("KILOWATCH_ALERT_SLACK_URL", "https://hooks.slack.com/services/T0/B0/x")
        .with_env("KILOWATCH_ALERT_TEAMS_URL", "https://example.webhook.office.com/x")
        .with_volume_mapping(
            str(REPO_ROOT / "provisioning/grafana/datasources"),
            "/etc/grafana/provisioning/datasources",
        )
        .with_volume_mapping(
            str(REPO_ROOT / "provisioning/grafana/alerting"), "/etc/grafana/provisioning/alerting"
        )
    )
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


def get(grafana: tuple[str, tuple[str, str]], path: str) -> Any:
    url, admin = grafana
    response = requests.get(f"{url}{path}", auth=admin, timeout=30)
    response.raise_for_status()
    return response.json()


def test_grafana_provisions_every_rule(grafana: tuple[str, tuple[str, str]]) -> None:
    document = yaml.safe_load(render_all(REPO_ROOT / "alerts")[RULES_FILE])
    expected = {r["uid"]: r for g in document["groups"] for r in g["rules"]}
    rules = {r["uid"]: r for r in get(grafana, "/api/v1/provisioning/alert-rules")}
    assert set(rules) == set(expected)
    for uid, rule in rules.items():
        assert rule["condition"] == expected[uid]["condition"]
        assert rule["labels"] == expected[uid]["labels"]


def test_grafana_provisions_the_contact_points_and_policy(
    grafana: tuple[str, tuple[str, str]],
) -> None:
    points = get(grafana, "/api/v1/provisioning/contact-points")
    names = {p["name"] for p in points}
    assert {"kilowatch-email", "kilowatch-chat", "kilowatch-teams"} <= names
    email = next(p for p in points if p["name"] == "kilowatch-email")
    assert email["settings"]["addresses"] == EMAIL  # replaced from the environment
    policy = get(grafana, "/api/v1/provisioning/policies")
    assert policy["receiver"] == "kilowatch-email" and policy["routes"]
