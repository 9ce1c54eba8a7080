"""Send the generated dashboards to a running Grafana (self-hosted or Amazon Managed Grafana).

Through Grafana's HTTP API with `grafana-client`: check that the URL is a Grafana that accepts
the token, find or create the folder, then save each dashboard into it with `overwrite: true`.
Dashboards keep their uids, so pushing again replaces them in place (Grafana keeps the history).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from kilowatch.reasons import network_reason

if TYPE_CHECKING:
    from grafana_client import GrafanaApi

DEFAULT_FOLDER = "kilowatch"  # the folder the self-hosted stack provisions into, same uid
DEFAULT_TIMEOUT_S = 10.0
TOKEN_ENV = "KILOWATCH_GRAFANA_TOKEN"
URL_ENV = "KILOWATCH_GRAFANA_URL"
COMMIT_MESSAGE = "kilowatch dashboards push"
MAX_UID_CHARS = 40  # Grafana's limit for folder and dashboard uids


class DashboardPushError(Exception):
    """Grafana cannot be reached, refuses the token, or rejects a dashboard; one sentence."""


@dataclass(frozen=True, slots=True)
class PushedDashboard:
    """One saved dashboard: its uid, Grafana's version number after the save, and its address."""

    uid: str
    title: str
    version: int
    url: str


def folder_uid(title: str) -> str:
    """A folder uid from its title: `Energy (prod)` -> `energy-prod`."""
    uid = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:MAX_UID_CHARS]
    if not uid:
        raise DashboardPushError(f"folder name {title!r} needs at least one letter or digit")
    return uid


def check_url(url: str) -> str:
    """The Grafana base URL without a trailing slash, or an error naming what is wrong with it."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise DashboardPushError(
            f"Grafana URL {url!r} must look like https://HOST[:PORT][/PATH], "
            "e.g. https://g-abc123.grafana-workspace.eu-west-1.amazonaws.com"
        )
    if parsed.username or parsed.password:
        raise DashboardPushError("put no credentials in the Grafana URL; pass a token instead")
    return url.rstrip("/")


def save_request(dashboard_json: str, folder: str) -> dict[str, Any]:
    """The body of `POST /api/dashboards/db` that creates or replaces one dashboard."""
    model = json.loads(dashboard_json)
    # Grafana matches by uid; a numeric id would belong to another Grafana's database.
    model["id"] = None
    return {"dashboard": model, "folderUid": folder, "overwrite": True, "message": COMMIT_MESSAGE}


def push_dashboards(
    rendered: Mapping[str, str],
    *,
    url: str,
    token: str,
    folder_title: str = DEFAULT_FOLDER,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[PushedDashboard], None] = lambda _: None,
) -> list[PushedDashboard]:
    """Save every dashboard (file name -> JSON text) into the folder of the Grafana at url."""
    from grafana_client import GrafanaApi  # here: `kilowatch --help` must not load it

    base_url = check_url(url)
    if not token.strip():
        raise DashboardPushError(
            f"the Grafana token is empty; pass --token or set {TOKEN_ENV} "
            "(a service account token with the Editor role)"
        )
    # grafana-client appends "api" to the URL's path as it is: a sub-path needs its final slash.
    api = GrafanaApi.from_url(base_url + "/", credential=token, timeout=timeout_s)
    call = _Caller(base_url, timeout_s)
    # What grafana-client's health.check() reads (Grafana and Amazon Managed Grafana alike),
    # fetched here so that a web page at the URL is reported, not an AttributeError.
    settings = call("check the server", partial(api.client.GET, "/frontend/settings"))
    build = settings.get("buildInfo") if isinstance(settings, dict) else None
    if not isinstance(build, dict) or "version" not in build:
        raise DashboardPushError(_not_grafana(base_url))
    folder = _ensure_folder(api, call, folder_title)
    pushed = []
    for name, text in rendered.items():
        body = save_request(text, folder)
        saved = call(f"save {name}", partial(api.dashboard.update_dashboard, body))
        dashboard = PushedDashboard(
            uid=str(saved.get("uid", body["dashboard"].get("uid"))),
            title=str(body["dashboard"].get("title", name)),
            version=int(saved.get("version", 0)),
            url=_origin(base_url) + str(saved.get("url", "")),  # Grafana's url has the sub-path
        )
        progress(dashboard)
        pushed.append(dashboard)
    return pushed


def _ensure_folder(api: GrafanaApi, call: _Caller, title: str) -> str:
    """The uid of the top-level folder with this title, created when there is none."""
    for folder in call("list folders", api.folder.get_all_folders) or []:
        if folder.get("title") == title:
            return str(folder["uid"])
    create = partial(api.folder.create_folder, title, folder_uid(title))
    created = call(f"create folder {title!r}", create)
    return str(created["uid"])


class _Caller:
    """Runs one API call and turns grafana-client's and niquests' exceptions into one sentence."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    def __call__(self, doing: str, request: Callable[[], Any]) -> Any:
        from grafana_client.client import (
            GrafanaClientError,
            GrafanaException,
            GrafanaServerError,
            GrafanaTimeoutError,
            GrafanaUnauthorizedError,
        )
        from niquests.exceptions import RequestException

        where = f"Grafana at {self.base_url}"
        try:
            return request()
        except GrafanaUnauthorizedError:
            raise DashboardPushError(
                f"{where} refused the token (401 Unauthorized); pass a valid service account "
                f"token with --token or {TOKEN_ENV}"
            ) from None
        except GrafanaTimeoutError:
            raise DashboardPushError(
                f"{where} did not answer within {self.timeout_s:g} s (while trying to {doing})"
            ) from None
        except GrafanaServerError as err:
            raise DashboardPushError(f"{where} failed to {doing}: {err.message}") from None
        except GrafanaClientError as err:
            raise DashboardPushError(_client_error(where, doing, err.status_code, err)) from None
        except GrafanaException as err:  # a transport failure grafana-client wraps
            raise DashboardPushError(f"cannot reach {where}: {err.message}") from None
        except RequestException as err:
            raise DashboardPushError(
                f"cannot reach {where}: {network_reason(err, 'Grafana')}; check the URL"
            ) from None
        except ValueError:  # a 2xx that is not JSON: something else answers at this URL
            raise DashboardPushError(_not_grafana(self.base_url)) from None


def _origin(url: str) -> str:
    """`https://host:port` of a URL, without its path."""
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _not_grafana(base_url: str) -> str:
    """The sentence for a URL where something other than Grafana's HTTP API answers."""
    return f"{base_url} answers, but not as Grafana's HTTP API; check the URL"


def _client_error(where: str, doing: str, status: int, err: Any) -> str:
    """One sentence for a 4xx other than 401."""
    message = err.response.get("message") if isinstance(err.response, dict) else None
    if status == 403:
        return (
            f"{where} does not let this token {doing} (403 Forbidden); "
            "give its service account the Editor role"
        )
    if status == 404:  # every call a push makes exists in Grafana: the URL is wrong
        return f"{where} has no such API (404 while trying to {doing}); check the URL"
    return f"{where} refused to {doing} ({status}): {message or err.message}"
