"""Why a connection to InfluxDB failed, in a few words, from real failed requests; and which of
those failures no retry can heal."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
import requests

from kilowatch.influx.reasons import is_hopeless, network_reason
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
