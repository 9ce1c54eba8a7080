"""Why a connection failed, in a few words, without the HTTP library's internals or the URL.

One helper for every client kilowatch runs (InfluxDB writes, reads and queries, Grafana pushes):
requests, urllib3 and niquests wrap the socket's error in layers of their own, and their text
repeats the whole request. A person needs the innermost cause.
"""

from __future__ import annotations

import socket
import ssl

DNS = "host name not found (DNS)"
TIMED_OUT = "timed out"


def network_reason(err: BaseException, server: str = "InfluxDB") -> str:
    """'connection refused (is InfluxDB running on that port?)', 'host name not found (DNS)',
    'TLS failed: ...', 'timed out' for a connection error (its innermost cause), else its
    first line; `server` names what should answer on the port."""
    refused = f"connection refused (is {server} running on that port?)"
    for cause in _causes(err):
        if isinstance(cause, socket.gaierror):
            return DNS
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or cause
            return f"TLS failed: certificate verify failed ({detail}); is the CA trusted?"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause}): is the port plain HTTP? use http://"
        if isinstance(cause, ConnectionRefusedError):
            return refused
        if isinstance(cause, TimeoutError | socket.timeout):
            return TIMED_OUT
    text = str(err)
    if "NameResolutionError" in text or "Failed to resolve" in text:
        return DNS
    if "Connection refused" in text:
        return refused
    if "certificate verify failed" in text:
        return "TLS failed: certificate verify failed; is the CA trusted?"
    if "SSL" in text or "TLS" in text:
        return "TLS failed: is the port plain HTTP? use http://"
    if "timed out" in text.lower():
        return TIMED_OUT
    return text.splitlines()[0][:200] if text else type(err).__name__


def is_hopeless(reason: str) -> bool:
    """A failure retrying cannot heal (a wrong name or scheme), unlike a refused connection."""
    return reason.startswith((DNS, "TLS failed"))


def _causes(err: BaseException) -> list[BaseException]:
    """The error and everything it wraps: args, causes, contexts and urllib3's `reason`."""
    seen: set[int] = set()
    stack: list[BaseException] = [err]
    found: list[BaseException] = []
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                stack.append(linked)
    return found
