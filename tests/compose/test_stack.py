"""The whole stack under Docker: every service healthy, dashboards provisioned, a panel answering.

Needs a Docker engine with `docker compose`; skips, saying so, where none runs. It builds the
image, starts the compose project under a unique name with generated secrets and free host
ports, and removes it (volumes included) afterwards.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from kilowatch.config import load_config
from kilowatch.dashboards.build import DEFAULT_OUT_DIR
from tests.support.grafana.macros import Variable, interpolate, interval_ms
from tests.support.grafana.queries import panel_queries
from tests.support.grafana.timerange import resolve
from tests.support.services import REPO_ROOT, free_port, require_docker

pytestmark = pytest.mark.docker

DASHBOARDS = [
    json.loads(p.read_text()) for p in sorted((REPO_ROOT / DEFAULT_OUT_DIR).glob("*.json"))
]
EXAMPLE = load_config(REPO_ROOT / "config" / "kilowatch.example.yaml")
DATA_TIMEOUT_S = 180  # the simulator's month of history has to pass through the bridge first


@dataclass(frozen=True)
class Grafana:
    url: str
    auth: tuple[str, str]

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", auth=self.auth, timeout=30)

    def post(self, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, auth=self.auth, timeout=60)


@pytest.fixture(scope="module")
def grafana(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grafana]:
    require_docker()
    from testcontainers.compose import DockerCompose

    password = secrets.token_hex(16)
    port = free_port()
    env = {
        "GRAFANA_ADMIN_USER": "admin",
        "GRAFANA_ADMIN_PASSWORD": password,
        "INFLUXDB_ADMIN_PASSWORD": secrets.token_hex(16),
        "KILOWATCH_INFLUX_TOKEN": secrets.token_hex(24),
        "KILOWATCH_MQTT_BRIDGE_PASSWORD": secrets.token_hex(16),
        "KILOWATCH_MQTT_SIMULATOR_PASSWORD": secrets.token_hex(16),
        "GRAFANA_PORT": str(port),
        "KILOWATCH_MQTT_PORT": str(free_port()),
    }
    env_file: Path = tmp_path_factory.mktemp("stack") / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    with pytest.MonkeyPatch.context() as patch:
        # A project of its own: a developer's running `kilowatch` stack is left alone.
        patch.setenv("COMPOSE_PROJECT_NAME", f"kilowatch-test-{uuid.uuid4().hex[:8]}")
        with DockerCompose(REPO_ROOT, env_file=str(env_file), build=True, wait=True):
            yield Grafana(f"http://127.0.0.1:{port}", ("admin", password))


def test_every_provisioned_dashboard_is_in_grafana(grafana: Grafana) -> None:
    for dashboard in DASHBOARDS:
        response = grafana.get(f"/api/dashboards/uid/{dashboard['uid']}")
        assert response.status_code == 200, response.text
        found = response.json()
        assert found["dashboard"]["title"] == dashboard["title"]
        assert found["meta"]["provisioned"] is True
        assert found["meta"]["folderTitle"] == "kilowatch"


def test_home_dashboard_is_kilowatch(grafana: Grafana) -> None:
    home = grafana.get("/api/dashboards/home").json()
    assert home["dashboard"]["uid"] == "kw-home"


def test_datasource_reaches_influxdb_with_the_token(grafana: Grafana) -> None:
    response = grafana.get("/api/datasources/uid/kilowatch-influxdb/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "OK"


def test_a_panel_query_returns_data_through_grafana(grafana: Grafana) -> None:
    """'Energy by period' (tariff dashboard) for the example's first plant, via /api/ds/query."""
    tariff = next(d for d in DASHBOARDS if d["uid"] == "kw-tariff")
    query = next(q for q in panel_queries(tariff) if q.panel == "Energy by period")
    plant = EXAMPLE.plants[0]
    now = datetime.now(UTC)
    time_range = resolve("now-30d", "now", now, ZoneInfo(plant.timezone))
    text = interpolate(
        query.query,
        time_range=time_range,
        interval=interval_ms(time_range, query.max_data_points, query.min_interval),
        variables=[Variable("plant", (plant.id,))],
    )
    body = {
        "from": str(time_range.start_ms),
        "to": str(time_range.end_ms),
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": "influxdb", "uid": "kilowatch-influxdb"},
                "query": text,
                "rawQuery": True,
                "resultFormat": "time_series",
            }
        ],
    }
    deadline = time.monotonic() + DATA_TIMEOUT_S
    while True:
        response = grafana.post("/api/ds/query", body)
        assert response.status_code == 200, response.text
        frames = response.json()["results"]["A"].get("frames", [])
        values = [v for f in frames for v in f["data"]["values"][-1] if v]
        if values:
            break
        assert time.monotonic() < deadline, f"no data after {DATA_TIMEOUT_S} s: {response.text}"
        time.sleep(5)
    assert sum(values) > 0
