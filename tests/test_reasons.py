"""Why a connection failed, in a few words, from real failed requests; and which of
those failures no retry can heal."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kilowatch.reasons import is_hopeless, network_reason
from tests.support.services import free_port


def failure(url: str) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as raised:
        requests.get(url, timeout=5)
    return raised.value


@pytest.fixture
def plain_http() -> Iterator[int]:
    """A plain HTTP server on loopback (TLS to it fails as TLS to InfluxDB's port does)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_refused_is_retried() -> None:
    reason = network_reason(failure(f"http://127.0.0.1:{free_port()}/ping"))
    assert reason == "connection refused (is InfluxDB running on that port?)"
    assert not is_hopeless(reason)


def test_an_unknown_host_is_hopeless() -> None:
    reason = network_reason(failure("http://no-such-host.invalid:8086/ping"))
    assert reason == "host name not found (DNS)"
    assert is_hopeless(reason)


def test_tls_to_a_plain_port_is_hopeless(plain_http: int) -> None:
    reason = network_reason(failure(f"https://127.0.0.1:{plain_http}/ping"))
    assert reason.startswith("TLS failed") and reason.endswith("use http://")
    assert is_hopeless(reason)
    assert "urllib3" not in reason and "/ping" not in reason


def test_refused_names_the_server_that_should_answer() -> None:
    reason = network_reason(failure(f"http://127.0.0.1:{free_port()}/"), "Grafana")
    assert reason == "connection refused (is Grafana running on that port?)"


def test_an_untrusted_certificate_is_named_and_hopeless(tls_files: dict[str, Path]) -> None:
    """The server's certificate is signed by the tests' own CA, which the client does not trust."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["server.pem"], tls_files["server.key"])
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        reason = network_reason(failure(f"https://127.0.0.1:{server.server_address[1]}/"))
    finally:
        server.shutdown()
    assert reason.startswith("TLS failed: certificate verify failed")
    assert is_hopeless(reason)
