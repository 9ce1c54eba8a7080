"""The alerting provisioning files loaded by a real Grafana (the image docker-compose.yml runs).

Needs a Docker engine (testcontainers); skipped where none answers, as here. Where it runs, it
proves what the format checks in test_build.py can only approximate: Grafana starts with the
files (a bad one stops it), and its provisioning API lists every rule, contact point and the
policy, with the ${KILOWATCH_ALERT_*} secrets replaced from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from kilowatch.alerts.build import RULES_FILE, render_all
from tests.support.grafana.container import REPO_ROOT, compose_grafana_image, running_grafana

pytestmark = pytest.mark.docker

EMAIL = "energy-team@example.com"


def test_the_image_is_the_one_compose_runs() -> None:
    assert compose_grafana_image().startswith("grafana/grafana:11.")


@pytest.fixture(scope="module")
def grafana() -> Iterator[tuple[str, tuple[str, str]]]:
    """Grafana with the whole provisioning folder, as docker-compose.yml mounts it."""
    env = {
        "KILOWATCH_INFLUX_URL": "http://influxdb:8086",
        "KILOWATCH_INFLUX_BUCKET": "kilowatch",
        "KILOWATCH_INFLUX_TOKEN": "unused",
        "KILOWATCH_ALERT_EMAIL": EMAIL,
        "KILOWATCH_ALERT_SLACK_URL": "https://hooks.slack.com/services/T0/B0/x",
        "KILOWATCH_ALERT_TEAMS_URL": "https://example.webhook.office.com/x",
    }
    volumes = {REPO_ROOT / "provisioning/grafana": "/etc/grafana/provisioning"}
    with running_grafana(env, volumes) as (url, admin):
        yield url, admin


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
