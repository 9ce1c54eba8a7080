"""Why a connection failed, in a few words, without urllib3's internals or the request URL."""

from __future__ import annotations

import socket
import ssl


def network_reason(err: BaseException) -> str:
    """'connection refused', 'host name not found', 'TLS failed: ...' for a requests/urllib3
    error (the innermost cause), else its first line."""
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
    for cause in found:
        if isinstance(cause, socket.gaierror):
            return "host name not found (DNS)"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause}): is the port plain HTTP? use http://"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is InfluxDB running on that port?)"
        if isinstance(cause, TimeoutError | socket.timeout):
            return "timed out"
    text = str(err)
    for marker in ("NameResolutionError", "Failed to resolve"):
        if marker in text:
            return "host name not found (DNS)"
    if "Connection refused" in text:
        return "connection refused (is InfluxDB running on that port?)"
    if "SSL" in text or "TLS" in text:
        return "TLS failed: is the port plain HTTP? use http://"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:200] if text else type(err).__name__


def is_hopeless(reason: str) -> bool:
    """A failure retrying cannot heal (a wrong name or scheme), unlike a refused connection."""
    return reason.startswith(("host name not found", "TLS failed"))
