"""`kilowatch dashboards push` into a real Grafana (the image docker-compose.yml runs).

Needs a Docker engine (testcontainers); skipped where none answers, as here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from kilowatch.dashboards.build import DEFAULT_SRC_DIR, render_all
from kilowatch.dashboards.push import DashboardPushError, push_dashboards
from tests.support.grafana.container import running_grafana

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = REPO_ROOT / DEFAULT_SRC_DIR


@dataclass(frozen=True)
class Grafana:
    url: str
    admin: tuple[str, str]
    token: str

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.url}{path}", auth=self.admin, timeout=30)
        response.raise_for_status()
        return response.json()


def service_account_token(url: str, admin: tuple[str, str], role: str) -> str:
    """A new service account with the role, and a token for it (through the admin login)."""
    name = f"kilowatch-{role.lower()}-{secrets.token_hex(4)}"
    account = requests.post(
        f"{url}/api/serviceaccounts", json={"name": name, "role": role}, auth=admin, timeout=30
    )
    account.raise_for_status()
    token = requests.post(
        f"{url}/api/serviceaccounts/{account.json()['id']}/tokens",
        json={"name": name},
        auth=admin,
        timeout=30,
    )
    token.raise_for_status()
    return str(token.json()["key"])


@pytest.fixture(scope="module")
def grafana() -> Iterator[Grafana]:
    with running_grafana() as (url, admin):
        yield Grafana(url, admin, service_account_token(url, admin, "Editor"))


def test_push_creates_the_folder_and_every_dashboard_then_overwrites(grafana: Grafana) -> None:
    rendered = render_all(SOURCES)
    by_uid = {d["uid"]: d for d in (json.loads(t) for t in rendered.values())}
    first = push_dashboards(rendered, url=grafana.url, token=grafana.token)
    second = push_dashboards(rendered, url=grafana.url, token=grafana.token)
    folders = [f for f in grafana.get("/api/folders") if f["title"] == "kilowatch"]
    assert len(folders) == 1
    found = grafana.get(f"/api/search?type=dash-db&folderUIDs={folders[0]['uid']}")
    assert {d["uid"] for d in found} == set(by_uid)
    for before, after in zip(first, second, strict=True):
        assert after.uid == before.uid and after.version == before.version + 1
        stored = grafana.get(f"/api/dashboards/uid/{after.uid}")
        assert stored["meta"]["folderUid"] == folders[0]["uid"]
        assert stored["dashboard"]["panels"] == by_uid[after.uid]["panels"]
        assert stored["dashboard"]["templating"] == by_uid[after.uid]["templating"]


def test_a_wrong_token_is_refused(grafana: Grafana) -> None:
    with pytest.raises(DashboardPushError, match=r"refused the token \(401"):
        push_dashboards(render_all(SOURCES), url=grafana.url, token="glsa_wrong")


def test_a_viewer_token_may_not_save(grafana: Grafana) -> None:
    viewer = service_account_token(grafana.url, grafana.admin, "Viewer")
    with pytest.raises(DashboardPushError, match="403 Forbidden"):
        push_dashboards(render_all(SOURCES), url=grafana.url, token=viewer, folder_title="other")
