"""`kilowatch dashboards push`: what it sends to Grafana's HTTP API, and its errors.

Grafana itself does not run here (no package, no Docker engine): these tests are a CONTRACT
check against a small local HTTP server that records every request and answers the way Grafana's
API documents (folders, `POST /api/dashboards/db`). They show what is sent and how each failure
reads; they cannot show that Grafana accepts it. tests/dashboards/test_push_grafana.py pushes to
a real Grafana in a container where a Docker engine runs.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kilowatch.cli.dashboards import app as dashboards_app
from kilowatch.dashboards.build import DEFAULT_OUT_DIR, DEFAULT_SRC_DIR, render_all
from kilowatch.dashboards.push import (
    COMMIT_MESSAGE,
    DashboardPushError,
    folder_uid,
    push_dashboards,
)
from tests.support.services import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = REPO_ROOT / DEFAULT_SRC_DIR
PROVISIONED = REPO_ROOT / DEFAULT_OUT_DIR
TOKEN = "glsa_test_token_0123456789"
runner = CliRunner()


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str
    body: Any


@dataclass
class GrafanaAPIRecorder:
    """Records requests; answers like Grafana's API for the calls a push makes."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    folders: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    # Set by a test to answer every request (after recording it) with this status and body.
    fail_with: tuple[int, str, str] | None = None  # status, content type, body
    forbid_saves: bool = False
    sub_path: str = ""  # where Grafana is served from, as with root_url + serve_from_sub_path

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if not path.startswith(self.sub_path + "/api/"):
            return 404, {"message": "Not found"}
        path = path.removeprefix(self.sub_path)
        if self.fail_with is None and self.requests[-1].authorization != f"Bearer {TOKEN}":
            return 401, {"message": "invalid API key"}
        if (method, path) == ("GET", "/api/frontend/settings"):
            return 200, {"buildInfo": {"version": "11.6.0", "edition": "Open Source"}}
        if (method, path) == ("GET", "/api/folders"):
            return 200, [{"id": i + 1, **f} for i, f in enumerate(self.folders)]
        if (method, path) == ("POST", "/api/folders"):
            self.folders.append({"uid": body["uid"], "title": body["title"]})
            return 200, {"id": len(self.folders), **self.folders[-1]}
        if (method, path) == ("POST", "/api/dashboards/db"):
            if self.forbid_saves:
                return 403, {"message": "Access denied"}
            uid = body["dashboard"]["uid"]
            self.versions[uid] = self.versions.get(uid, 0) + 1
            url = f"{self.sub_path}/d/{uid}/{body['dashboard']['title'].lower().replace(' ', '-')}"
            return 200, {"uid": uid, "url": url, "version": self.versions[uid], "status": "success"}
        return 404, {"message": "Not found"}


def serve(recorder: GrafanaAPIRecorder, tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            recorder.requests.append(
                Recorded(self.command, self.path, self.headers.get("Authorization", ""), body)
            )
            if recorder.fail_with is not None:
                status, content_type, text = recorder.fail_with
                payload = text.encode()
            else:
                content_type = "application/json"
                status, answer = recorder.answer(self.command, self.path, body)
                payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def grafana_api() -> Iterator[GrafanaAPIRecorder]:
    recorder = GrafanaAPIRecorder()
    server = serve(recorder)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all(SOURCES)


def test_push_checks_the_server_then_saves_every_dashboard_into_the_folder(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str]
) -> None:
    pushed = push_dashboards(rendered, url=grafana_api.url + "/", token=TOKEN)
    sent = [(r.method, r.path) for r in grafana_api.requests]
    saves = len(rendered)
    assert (
        sent
        == [
            ("GET", "/api/frontend/settings"),
            ("GET", "/api/folders"),
            ("POST", "/api/folders"),
        ]
        + [("POST", "/api/dashboards/db")] * saves
    )
    assert {r.authorization for r in grafana_api.requests} == {f"Bearer {TOKEN}"}
    assert grafana_api.calls("POST", "/api/folders")[0].body == {
        "title": "kilowatch",
        "uid": "kilowatch",
    }
    for name, record in zip(rendered, grafana_api.calls("POST", "/api/dashboards/db"), strict=True):
        committed = json.loads((PROVISIONED / name).read_text())
        assert record.body == {
            "dashboard": committed,  # the committed JSON as it is ("id": null)
            "folderUid": "kilowatch",
            "overwrite": True,
            "message": COMMIT_MESSAGE,
        }
    assert {p.uid for p in pushed} == {json.loads(t)["uid"] for t in rendered.values()}
    home = next(p for p in pushed if p.uid == "kw-home")
    assert home.url == f"{grafana_api.url}/d/kw-home/kilowatch" and home.version == 1


def test_pushing_again_reuses_the_folder_and_overwrites(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str]
) -> None:
    push_dashboards(rendered, url=grafana_api.url, token=TOKEN)
    again = push_dashboards(rendered, url=grafana_api.url, token=TOKEN)
    assert len(grafana_api.calls("POST", "/api/folders")) == 1
    assert len(grafana_api.folders) == 1
    assert {p.version for p in again} == {2}
    assert all(r.body["overwrite"] for r in grafana_api.calls("POST", "/api/dashboards/db"))


def test_a_grafana_under_a_sub_path_is_called_there(grafana_api: GrafanaAPIRecorder) -> None:
    """Grafana served from https://host/grafana (`serve_from_sub_path`): its API is /grafana/api."""
    grafana_api.sub_path = "/grafana"
    pushed = push_dashboards(
        render_all(SOURCES), url=grafana_api.url + "/grafana", token=TOKEN, folder_title="x"
    )
    assert {r.path.split("/api/")[0] for r in grafana_api.requests} == {"/grafana"}
    home = next(p for p in pushed if p.uid == "kw-home")
    assert home.url == f"{grafana_api.url}/grafana/d/kw-home/kilowatch"


def test_an_existing_folder_of_that_name_is_used_whatever_its_uid(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str]
) -> None:
    grafana_api.folders.append({"uid": "f7Xk2", "title": "Plant energy"})
    push_dashboards(rendered, url=grafana_api.url, token=TOKEN, folder_title="Plant energy")
    assert grafana_api.calls("POST", "/api/folders") == []
    saves = grafana_api.calls("POST", "/api/dashboards/db")
    assert {r.body["folderUid"] for r in saves} == {"f7Xk2"}


def test_folder_uids_come_from_titles() -> None:
    assert folder_uid("kilowatch") == "kilowatch"
    assert folder_uid("Energy (prod) / Plant 1") == "energy-prod-plant-1"
    assert len(folder_uid("x" * 100)) == 40
    with pytest.raises(DashboardPushError, match="letter or digit"):
        folder_uid("//")


def test_a_refused_token_is_one_sentence_without_the_token(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str]
) -> None:
    with pytest.raises(DashboardPushError) as err:
        push_dashboards(rendered, url=grafana_api.url, token="wrong")
    assert "refused the token (401 Unauthorized)" in str(err.value)
    assert "KILOWATCH_GRAFANA_TOKEN" in str(err.value)
    assert grafana_api.calls("POST", "/api/dashboards/db") == []


def test_a_token_that_may_not_save_names_the_role(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str]
) -> None:
    grafana_api.forbid_saves = True
    with pytest.raises(DashboardPushError, match=r"403 Forbidden.*Editor role"):
        push_dashboards(rendered, url=grafana_api.url, token=TOKEN)


@pytest.mark.parametrize(
    "answer",
    [
        (200, "text/html", "<html>a web page</html>"),
        (404, "text/html", "<html>not found</html>"),
        (200, "application/json", '{"status": "ok"}'),
        (404, "application/json", '{"message": "Not found"}'),
    ],
    ids=["html-page", "html-404", "other-json", "json-404"],
)
def test_a_url_that_is_not_grafana_says_so(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str], answer: tuple[int, str, str]
) -> None:
    grafana_api.fail_with = answer
    with pytest.raises(DashboardPushError, match=r"not as Grafana's HTTP API|no such API"):
        push_dashboards(rendered, url=grafana_api.url, token=TOKEN)


def test_a_server_error_is_reported_with_grafanas_message(
    grafana_api: GrafanaAPIRecorder, rendered: dict[str, str]
) -> None:
    grafana_api.fail_with = (500, "application/json", '{"message": "database is locked"}')
    with pytest.raises(
        DashboardPushError, match=r"failed to check the server: .*database is locked"
    ):
        push_dashboards(rendered, url=grafana_api.url, token=TOKEN)


def test_an_unreachable_grafana_is_named(rendered: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(DashboardPushError, match=r"cannot reach Grafana at .*: connection refused"):
        push_dashboards(rendered, url=url, token=TOKEN, timeout_s=5)


def test_an_untrusted_certificate_is_named(
    tls_files: dict[str, Path], rendered: dict[str, str]
) -> None:
    """The server's certificate is signed by the tests' own CA, which the client does not trust."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["server.pem"], tls_files["server.key"])
    recorder = GrafanaAPIRecorder()
    server = serve(recorder, tls=context)
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(DashboardPushError, match=r"cannot reach .*certificate verify failed"):
            push_dashboards(rendered, url=url, token=TOKEN, timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "url", ["grafana.example.com", "ftp://grafana.example.com", "https://admin:pw@g.example.com"]
)
def test_a_malformed_url_is_refused_before_any_request(url: str, rendered: dict[str, str]) -> None:
    with pytest.raises(DashboardPushError, match=r"Grafana URL|no credentials in the Grafana URL"):
        push_dashboards(rendered, url=url, token=TOKEN)


def test_cli_takes_the_token_from_the_environment(grafana_api: GrafanaAPIRecorder) -> None:
    result = runner.invoke(
        dashboards_app,
        ["push", "--url", grafana_api.url, "--src", str(SOURCES)],
        env={"KILOWATCH_GRAFANA_TOKEN": TOKEN},
    )
    assert result.exit_code == 0, result.output
    assert "pushed kw-home (version 1): " in result.output
    assert f"dashboards in folder 'kilowatch' of {grafana_api.url}" in result.output
    assert len(grafana_api.calls("POST", "/api/dashboards/db")) == len(
        list(SOURCES.glob("*.dashboard.py"))
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--url", "http://127.0.0.1:1"], {}, "no Grafana token; set KILOWATCH_GRAFANA_TOKEN"),
        ([], {"KILOWATCH_GRAFANA_TOKEN": TOKEN}, "no Grafana URL; pass --url"),
        (["--url", "localhost:3000", "--token", TOKEN], {}, "must look like https://HOST"),
    ],
)
def test_cli_errors_are_one_line_and_status_2(
    args: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KILOWATCH_GRAFANA_TOKEN", raising=False)
    monkeypatch.delenv("KILOWATCH_GRAFANA_URL", raising=False)
    result = runner.invoke(dashboards_app, ["push", "--src", str(SOURCES), *args], env=env)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_reports_a_refused_token_and_sends_no_dashboard(
    grafana_api: GrafanaAPIRecorder,
) -> None:
    result = runner.invoke(
        dashboards_app,
        ["push", "--url", grafana_api.url, "--token", "wrong", "--src", str(SOURCES)],
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: Grafana at ") and "401" in result.output
    assert "wrong" not in result.output
    assert grafana_api.calls("POST", "/api/dashboards/db") == []
