"""Writers for InfluxDB: 1.x through `/write`, 2.x and 3.x through influxdb-client.

A writer takes lines of line protocol and either stores all of them or raises `InfluxWriteError`,
which says whether trying again can help (server down, overloaded) or not (bad point, no bucket).
`write_with_retry` is the one retry policy: exponential backoff with jitter.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlencode

import requests
import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from kilowatch.reasons import is_hopeless, network_reason

logger = logging.getLogger(__name__)

ApiVersion = Literal["1", "2"]
# 400/422: InfluxDB refused the points themselves (a field type conflict, a bad line). Anything
# else (auth, missing bucket, overload, outage) can be fixed while we wait, so it is retried.
REFUSED_POINTS_STATUS = frozenset({400, 422})


class InfluxWriteError(Exception):
    """A write that did not store the points; `retryable` says whether waiting can help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class InfluxAccessError(Exception):
    """InfluxDB refuses the token, or the organisation or bucket does not exist: a person must
    fix a setting, so waiting would not help."""


def access_error(err: InfluxWriteError, url: str, bucket: str) -> InfluxAccessError | None:
    """The setting to fix when a write or a query was refused for good: 401 or 403, or a 404
    naming the organisation or the bucket; None for other failures."""
    text = str(err)
    if err.status in (401, 403):
        return InfluxAccessError(
            f"InfluxDB at {url} refused the bridge's credentials ({text[:200]}); set "
            "KILOWATCH_INFLUX_TOKEN to a token (user:password on 1.x) that may write to "
            f"{bucket!r}"
        )
    if err.status == 404 and "organization" in text:
        return InfluxAccessError(
            f"InfluxDB at {url} has no such organisation ({text[:200]}); fix KILOWATCH_INFLUX_ORG"
        )
    if err.status == 404:
        return InfluxAccessError(
            f"InfluxDB at {url} has no bucket or database {bucket!r} ({text[:200]}); create it "
            "or fix KILOWATCH_INFLUX_BUCKET"
        )
    return None


class InfluxWriter(Protocol):
    def write(self, lines: list[str]) -> None:
        """Store every line (nanosecond timestamps) or raise InfluxWriteError."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True, slots=True)
class InfluxTarget:
    url: str
    bucket: str
    org: str = ""
    token: str = ""


def auth_headers(token: str) -> dict[str, str]:
    """The login header: `user:password` as HTTP Basic (every 1.x reads it; the Token scheme
    for a user and password came only with 1.8), anything else as an API token (2.x, 3.x)."""
    if not token:
        return {}
    if ":" in token:
        return urllib3.util.make_headers(basic_auth=token)
    return {"Authorization": f"Token {token}"}


def detect_version(url: str, timeout_s: float = 5.0) -> ApiVersion:
    """Ask `/ping` which API to use: '1' for 1.x, '2' for 2.x and 3.x (both take /api/v2/write)."""
    try:
        response = requests.get(f"{url.rstrip('/')}/ping", timeout=timeout_s)
    except requests.RequestException as err:
        reason = network_reason(err)
        # Retried: a refused connection or a timeout (InfluxDB starting). Not: a host name that
        # does not resolve or TLS to a plain HTTP port; waiting cannot fix a wrong URL.
        raise InfluxWriteError(
            f"InfluxDB at {url} is not reachable: {reason}", retryable=not is_hopeless(reason)
        ) from None
    header = response.headers.get("X-Influxdb-Version", "")
    match = re.search(r"(\d+)\.", header)
    if response.status_code not in (200, 204) or not match:
        raise InfluxWriteError(
            f"{url}/ping answered {response.status_code} without an InfluxDB version; "
            "is KILOWATCH_INFLUX_URL an InfluxDB server?",
            retryable=False,
        )
    return "1" if match.group(1) == "1" else "2"


class InfluxV1Writer:
    """InfluxDB 1.x `/write` (also 2.x's v1 compatibility API), database = bucket.

    On urllib3 directly: its pool is thread-safe, and requests' work per call (reading the
    environment, netrc, proxies) had cost half the bridge's CPU spent on writing.
    """

    def __init__(self, target: InfluxTarget, timeout_s: float = 30.0) -> None:
        self._url = target.url.rstrip("/")
        self._db = target.bucket
        self._pool = urllib3.PoolManager(
            maxsize=32,  # kept connections: more than the threads that write at once (16 + 1)
            headers=auth_headers(target.token),
            timeout=urllib3.Timeout(total=timeout_s),
            retries=False,  # the bridge retries, with backoff, and counts the retries
        )

    def ensure_database(self) -> None:
        """Create the database if it is missing (CREATE DATABASE is idempotent on 1.x)."""
        try:
            self._post("/query", {"q": f'CREATE DATABASE "{self._db}"'}, None)
        except InfluxWriteError as err:
            refused = access_error(err, self._url, self._db)
            if err.status == 401 and refused is not None:
                raise refused from None
            if err.status != 403:  # 403: a user without admin rights, fine if the db exists
                raise

    def write(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode("utf-8")
        self._post("/write", {"db": self._db, "precision": "ns"}, body)

    def _post(self, path: str, params: dict[str, str], body: bytes | None) -> None:
        url = f"{self._url}{path}?{urlencode(params)}"
        try:
            response = self._pool.request("POST", url, body=body)
        except urllib3.exceptions.HTTPError as err:
            raise InfluxWriteError(
                f"InfluxDB is not reachable: {network_reason(err)}", retryable=True
            ) from None
        if response.status >= 300:
            text = response.data.decode("utf-8", errors="replace").strip()
            raise InfluxWriteError(
                f"InfluxDB answered {response.status}: {text[:500]}",
                retryable=response.status not in REFUSED_POINTS_STATUS,
                status=response.status,
            )

    def close(self) -> None:
        self._pool.clear()


class InfluxV2Writer:
    """InfluxDB 2.x/3.x through influxdb-client's synchronous write API (token, org, bucket)."""

    def __init__(self, target: InfluxTarget, timeout_s: float = 30.0) -> None:
        self._target = target
        # retries=False: the bridge owns retrying, so that it can hold its acks meanwhile.
        self._client = InfluxDBClient(
            url=target.url,
            token=target.token,
            org=target.org,
            timeout=int(timeout_s * 1000),
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: list[str]) -> None:
        try:
            self._write_api.write(
                bucket=self._target.bucket,
                org=self._target.org,
                record=lines,
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]  # a str constant
            )
        except ApiException as err:
            status = int(err.status or 0)
            raise InfluxWriteError(
                f"InfluxDB answered {status}: {(err.body or err.reason or '')!s:.500}",
                retryable=status not in REFUSED_POINTS_STATUS,
                status=status,
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise InfluxWriteError(
                f"InfluxDB is not reachable: {network_reason(err)}", retryable=True
            ) from None

    def close(self) -> None:
        self._client.close()


def open_writer(target: InfluxTarget, version: ApiVersion) -> InfluxWriter:
    """The writer for this server version; 1.x databases are created when missing (by a user
    allowed to: others need an existing database). InfluxAccessError: credentials refused."""
    if version == "1":
        writer = InfluxV1Writer(target)
        writer.ensure_database()
        return writer
    return InfluxV2Writer(target)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: initial_s, then times exponential_base up to max_s, each
    delay drawn within +-jitter of it (so writers that failed together do not retry together)."""

    initial_s: float = 1.0
    max_s: float = 30.0
    exponential_base: float = 2.0
    jitter: float = 0.2  # a fraction of the delay
    max_attempts: int | None = None  # None: until stored or stopped

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before each retry, endless (max_attempts is for write_with_retry)."""
        draw = rng or random
        delay = self.initial_s
        while True:
            yield delay * draw.uniform(1 - self.jitter, 1 + self.jitter)
            delay = min(delay * self.exponential_base, self.max_s)


def write_with_retry(
    writer: InfluxWriter,
    lines: list[str],
    policy: RetryPolicy,
    *,
    stop: threading.Event | None = None,
    on_retry: Callable[[InfluxWriteError, float], None] | None = None,
) -> bool:
    """Write, retrying while the failure is temporary. True once stored; False if `stop` was
    set first; InfluxWriteError when InfluxDB refuses for good or max_attempts are spent."""
    attempts = 0
    delays = policy.delays()
    while True:
        try:
            writer.write(lines)
            return True
        except InfluxWriteError as err:
            attempts += 1
            if not err.retryable or (
                policy.max_attempts is not None and attempts >= policy.max_attempts
            ):
                raise
            if stop is not None and stop.is_set():
                return False
            delay = next(delays)
            if on_retry is not None:
                on_retry(err, delay)
            if stop is None:
                time.sleep(delay)
            else:
                stop.wait(delay)
