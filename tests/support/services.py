"""Real Mosquitto and InfluxDB 1.x servers, and background processes, for tests and benchmarks.

Usable without pytest (bench/ scripts):

    with Mosquitto(persistence=True) as broker, InfluxDB1() as influx:
        influx.create_database("kilowatch")
        ...  # broker.url == "mqtt://127.0.0.1:PORT", influx.url == "http://127.0.0.1:PORT"

Each server runs in its own temporary directory on free loopback ports and is stopped when the
`with` block ends, when a fixture finishes (even after a failed test), or at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_PROVISIONING = REPO_ROOT / "provisioning" / "mosquitto"
NO_LOSS_QUEUES_CONF = MOSQUITTO_PROVISIONING / "conf.d" / "no-loss-queues.conf"
PACKET_SIZE_CONF = MOSQUITTO_PROVISIONING / "conf.d" / "packet-size.conf"

START_TIMEOUT_S = 30.0  # generous: the machine is shared and influxd can take seconds to open
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
LOG_TAIL_LINES = 30
# Mosquitto's default log types plus "subscribe", which wait_for_subscription reads.
LOG_TYPES = ("error", "warning", "notice", "information", "subscribe")
PORT_RETRIES = 3  # another process may take a free port between free_port() and the bind


Login = tuple[str, str]  # (username, password) for a broker with a password file


class ServiceError(RuntimeError):
    """A test service could not be found, started, stopped or queried; the message says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def require_docker() -> None:
    """Skip the test unless a Docker engine answers (only the client is installed here)."""
    import pytest  # here: the benchmarks import this module without pytest's machinery

    docker = pytest.importorskip("docker")
    try:
        docker.from_env().ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker engine answers here ({err}); run where a Docker engine runs")


def require_binary(name: str, package: str) -> str:
    """The full path of an executable, or ServiceError saying which Debian package to install."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if os.access(p, os.X_OK)),
        None,
    )
    if path is None:
        raise ServiceError(f"{name} is not installed: install with apt-get install {package}")
    return path


def kilowatch_argv(*args: str) -> list[str]:
    """The command line that runs `kilowatch ARGS...` from this interpreter's installation."""
    script = Path(sys.executable).with_name("kilowatch")
    if not script.exists():
        found = shutil.which("kilowatch")
        if found is None:
            raise ServiceError(
                "the kilowatch command is not installed: run pip install -e '.[test]'"
            )
        script = Path(found)
    return [str(script), *args]


_running: set[BackgroundProcess] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Safety net: no process started here outlives the interpreter, whatever a caller forgot."""
    for process in list(_running):
        process.kill(signal.SIGKILL)
        with contextlib.suppress(ServiceError):
            process.wait(STOP_TIMEOUT_S)


class BackgroundProcess:
    """A command running in the background in its own process group, output in a log file.

    `env` adds to (and overrides) the current environment. kill() signals the whole group, so a
    crash test's SIGKILL also takes down anything the command started, as a container would.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        log_path: Path | str | None = None,
        cwd: Path | str | None = None,
    ) -> None:
        if not argv:
            raise ValueError("argv must name a command to run")
        self.argv = [str(a) for a in argv]
        self.env = dict(env or {})
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"{Path(self.argv[0]).name}-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @classmethod
    def python_module(
        cls,
        module: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        log_path: Path | str | None = None,
    ) -> BackgroundProcess:
        """`python -m MODULE ARGS...` with this interpreter (not started yet)."""
        return cls([sys.executable, "-m", module, *args], env=env, log_path=log_path)

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ServiceError(f"{self.argv[0]} was never started")
        return self._popen.pid

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended (negative: killed by that signal), else None."""
        return None if self._popen is None else self._popen.poll()

    def start(self) -> Self:
        """Start the command; its stdout and stderr go to log_path (appended, across restarts)."""
        if self.alive:
            raise ServiceError(f"{self.argv[0]} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,  # own process group: kill() reaches its children too
            )
        _running.add(self)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the process group; does nothing when it already ended."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def wait(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Wait for the process to end and return its exit status; ServiceError on timeout."""
        if self._popen is None:
            raise ServiceError(f"{self.argv[0]} was never started")
        try:
            code = self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ServiceError(
                f"{self.argv[0]} (pid {self.pid}) still runs after {timeout_s} s; "
                f"log {self.log_path}:\n{self.log_tail()}"
            ) from None
        _running.discard(self)
        return code

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait up to timeout_s, then SIGKILL; the exit status (None if never started)."""
        if self._popen is None:
            return None
        self.kill(signal.SIGTERM)
        try:
            return self.wait(timeout_s)
        except ServiceError:
            self.kill(signal.SIGKILL)
            return self.wait(timeout_s)

    def log_size(self) -> int:
        """Bytes in the log so far: pass it as wait_for_log(since=...) to skip older lines."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the log (undecodable bytes escaped)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, self.log_size() - 64 * 1024))
                data = log.read()
        except FileNotFoundError:
            return "(no log yet)"
        text = data.decode("utf-8", "backslashreplace")
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def wait_for_log(self, text: str, *, since: int = 0, timeout_s: float = START_TIMEOUT_S) -> int:
        """Wait until `text` appears in the log after byte `since`; the offset just past it.

        Raises ServiceError with the log tail when the process ends or timeout_s passes first.
        """
        needle = text.encode()
        deadline = time.monotonic() + timeout_s
        position, carry = since, b""
        while True:
            with open(self.log_path, "rb") as log:
                log.seek(position)
                chunk = log.read()
            window = carry + chunk
            found = window.find(needle)
            if found >= 0:
                return position - len(carry) + found + len(needle)
            position += len(chunk)
            carry = window[-(len(needle) - 1) :] if len(needle) > 1 else b""
            if not self.alive and chunk == b"":
                raise ServiceError(
                    f"{self.argv[0]} ended (status {self.returncode}) before printing {text!r}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.argv[0]} did not print {text!r} within {timeout_s} s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Server:
    """A server process in a work directory, on ports chosen once and kept across restarts."""

    binary = ""
    package = ""

    def __init__(self, workdir: Path | str | None) -> None:
        self._owns_dir = workdir is None
        self.dir = Path(
            tempfile.mkdtemp(prefix=f"kilowatch-{self.binary}-") if workdir is None else workdir
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {}  # added to the server's environment
        self.process: BackgroundProcess | None = None
        self._started_once = False

    def _pick_ports(self) -> None:
        raise NotImplementedError

    def _config_text(self) -> str:
        raise NotImplementedError

    def _argv(self, executable: str, config: Path) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    @property
    def config_path(self) -> Path:
        return self.dir / f"{self.binary}.conf"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def start(self) -> Self:
        """Start the server and wait until it serves; ServiceError with its log tail if it fails."""
        executable = require_binary(self.binary, self.package)
        if self.alive:
            raise ServiceError(f"{self.binary} is already running in {self.dir}")
        if not self._started_once:
            self._pick_ports()
        for attempt in range(1, PORT_RETRIES + 1):
            self.config_path.write_text(self._config_text())
            self.process = BackgroundProcess(
                self._argv(executable, self.config_path),
                env=self.env,
                log_path=self.dir / f"{self.binary}.log",
            ).start()
            try:
                self._wait_ready()
            except ServiceError as err:
                self.process.stop()
                lost_race = "address already in use" in str(err).lower()
                if lost_race and not self._started_once and attempt < PORT_RETRIES:
                    self._pick_ports()
                    continue
                raise
            break
        self._started_once = True
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._ready():
            if not self.process.alive:
                raise ServiceError(
                    f"{self.binary} exited with status {self.process.returncode} at start; "
                    f"config {self.config_path}, log {self.process.log_path}:\n"
                    f"{self.process.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.binary} did not serve within {START_TIMEOUT_S} s; "
                    f"log {self.process.log_path}:\n{self.process.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, wait, then SIGKILL); data and ports are kept for restart()."""
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        """Crash it: SIGKILL, no chance to save anything."""
        if self.process is not None:
            self.process.kill(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> Self:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "(not started)" if self.process is None else self.process.log_tail(lines)

    def close(self) -> None:
        """Stop, and delete the work directory if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def no_loss_queue_settings() -> str:
    """The shipped queue limits (provisioning/mosquitto/conf.d/no-loss-queues.conf), verbatim."""
    return NO_LOSS_QUEUES_CONF.read_text()


class Mosquitto(_Server):
    """A Mosquitto broker on a free loopback port.

    no_loss_queues=True embeds the shipped queue limits; False leaves Mosquitto's defaults
    (1,000 queued, 20 in flight), which drop messages in bursts. Without a password_file any
    client may connect anonymously.
    """

    binary = "mosquitto"
    package = "mosquitto"

    def __init__(
        self,
        *,
        persistence: bool = False,
        password_file: Path | str | None = None,
        acl_file: Path | str | None = None,
        no_loss_queues: bool = True,
        extra_conf: Sequence[str] = (),
        workdir: Path | str | None = None,
    ) -> None:
        super().__init__(workdir)
        self.persistence = persistence
        self.password_file = None if password_file is None else Path(password_file)
        self.acl_file = None if acl_file is None else Path(acl_file)
        self.no_loss_queues = no_loss_queues
        self.extra_conf = list(extra_conf)
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _pick_ports(self) -> None:
        self.port = free_port()

    def _config_text(self) -> str:
        lines = [
            "user root",  # as root Mosquitto would switch to user mosquitto, who cannot write here
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.password_file else 'true'}",
            "log_dest stderr",  # unbuffered, unlike stdout: wait_for_log sees lines at once
            *(f"log_type {kind}" for kind in LOG_TYPES),
        ]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/"]
        else:
            lines.append("persistence false")
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.no_loss_queues:
            lines += [
                f"# from {NO_LOSS_QUEUES_CONF.relative_to(REPO_ROOT)}",
                no_loss_queue_settings(),
            ]
        # Every test broker enforces the shipped packet limit, as the product's broker does.
        lines += [f"# from {PACKET_SIZE_CONF.relative_to(REPO_ROOT)}", PACKET_SIZE_CONF.read_text()]
        lines += self.extra_conf
        return "\n".join(lines) + "\n"

    def _argv(self, executable: str, config: Path) -> list[str]:
        return [executable, "-c", str(config)]

    def client_args(self, login: Login | None = None) -> list[str]:
        """`-h HOST -p PORT [-u USER -P PASSWORD]` for mosquitto_pub and mosquitto_sub."""
        args = ["-h", self.host, "-p", str(self.port)]
        return args if login is None else [*args, "-u", login[0], "-P", login[1]]

    def _ready(self) -> bool:
        return port_open(self.port, self.host)

    def wait_for_client(
        self, client_id: str, *, since: int = 0, timeout_s: float = START_TIMEOUT_S
    ) -> int:
        """Wait until the broker logs that client_id connected (after log byte `since`)."""
        return self._wait_for_log(f" as {client_id} (", since, timeout_s)

    def wait_for_subscription(
        self,
        client_id: str,
        topic_filter: str,
        *,
        qos: int = 1,
        since: int = 0,
        timeout_s: float = START_TIMEOUT_S,
    ) -> int:
        """Wait until the broker logs that client_id subscribed to topic_filter (after `since`)."""
        return self._wait_for_log(f": {client_id} {qos} {topic_filter}\n", since, timeout_s)

    def log_size(self) -> int:
        """Bytes in the broker's log so far, to pass as `since`."""
        return 0 if self.process is None else self.process.log_size()

    def _wait_for_log(self, text: str, since: int, timeout_s: float) -> int:
        if self.process is None:
            raise ServiceError("start() the broker before waiting for its clients")
        return self.process.wait_for_log(text, since=since, timeout_s=timeout_s)


def publish_lines(
    broker: Mosquitto,
    topic: str,
    lines: Iterable[str],
    *,
    qos: int = 1,
    login: Login | None = None,
    timeout_s: float = 60,
) -> None:
    """Publish each line as one message (`mosquitto_pub -l`); returns when all are acknowledged."""
    argv = [require_binary("mosquitto_pub", "mosquitto-clients"), *broker.client_args(login)]
    argv += ["-q", str(qos), "-t", topic, "-l"]
    data = "".join(f"{line}\n" for line in lines).encode()
    done = subprocess.run(argv, input=data, capture_output=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise ServiceError(
            f"mosquitto_pub to {broker.url} failed with status {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )


class SessionSubscriber:
    """`mosquitto_sub` with a persistent QoS 1 session (fixed client id), payloads in a file.

    register() creates the session and leaves, so messages queue for it while it is away;
    connect() runs it in the background; drain() returns what it received on this connection.
    """

    def __init__(
        self,
        broker: Mosquitto,
        client_id: str,
        topic_filter: str,
        output: Path,
        *,
        login: Login | None = None,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.topic_filter = topic_filter
        self.output = output
        self.login = login
        self.process: BackgroundProcess | None = None
        self._since = 0

    def _argv(self, *extra: str) -> list[str]:
        return [
            require_binary("mosquitto_sub", "mosquitto-clients"),
            *self.broker.client_args(self.login),
            *("-c", "-i", self.client_id, "-q", "1", "-t", self.topic_filter),
            *extra,
        ]

    def register(self, timeout_s: float = 30) -> None:
        """Create the session and its subscription on the broker, then disconnect."""
        done = subprocess.run(self._argv("-E"), capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise ServiceError(
                f"mosquitto_sub -E on {self.broker.url} failed with status {done.returncode}: "
                f"{done.stderr.decode(errors='replace').strip()}"
            )

    def connect(self) -> None:
        """Connect in the background and return once the broker has its subscription."""
        since = self.broker.log_size()
        self.process = BackgroundProcess(self._argv(), log_path=self.output)
        self._since = self.process.log_size()
        self.process.start()
        self.broker.wait_for_subscription(self.client_id, self.topic_filter, since=since)

    def drain(self, *, marker_login: Login | None = None, timeout_s: float = 60) -> list[str]:
        """Payloads received on this connection, once everything queued before now has arrived.

        A marker published now (QoS 1, same topic) reaches the subscriber after every message
        the broker queued for it earlier, so seeing it means nothing queued is still on its way.
        marker_login publishes the marker when the subscriber's own login may not publish.
        """
        if self.process is None:
            raise ServiceError("connect() the subscriber before draining it")
        marker = f"drain-marker-{uuid.uuid4().hex}"
        login = self.login if marker_login is None else marker_login
        publish_lines(self.broker, self._marker_topic(), [marker], login=login)
        try:
            self.process.wait_for_log(marker, since=self._since, timeout_s=timeout_s)
        finally:
            self.process.stop()
        with open(self.output, "rb") as out:
            out.seek(self._since)
            received = out.read().decode("utf-8", "backslashreplace").splitlines()
        return [line for line in received if line != marker]

    def _marker_topic(self) -> str:
        # A filter with wildcards is not a topic: publish the marker on a topic it matches.
        levels = self.topic_filter.split("/")
        return "/".join("marker" if level in ("+", "#") else level for level in levels)


class InfluxDB1(_Server):
    """An InfluxDB 1.x server (`influxd`, Debian's 1.6) on free loopback ports, logging quietly."""

    binary = "influxd"
    package = "influxdb"

    def __init__(self, *, workdir: Path | str | None = None) -> None:
        super().__init__(workdir)
        self.host = "127.0.0.1"
        self.port = 0
        self.rpc_port = 0
        self._http = requests.Session()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _pick_ports(self) -> None:
        self.port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.port:
            self.rpc_port = free_port()

    def _config_text(self) -> str:
        return f"""\
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{self.dir}/meta"
  logging-enabled = false

[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false

[http]
  bind-address = "{self.host}:{self.port}"
  log-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[monitor]
  store-enabled = false

[continuous_queries]
  log-enabled = false
"""

    def _argv(self, executable: str, config: Path) -> list[str]:
        return [executable, "-config", str(config)]

    def _ready(self) -> bool:
        try:
            return self._http.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except requests.RequestException:
            return False

    def query(
        self, influxql: str, db: str | None = None, *, epoch: str | None = "s"
    ) -> list[dict[str, Any]]:
        """Run InfluxQL; one dict per result row, series tags merged in, times in `epoch` units.

        epoch=None returns RFC 3339 times. Raises ServiceError with InfluxDB's own error text.
        """
        params = {"q": influxql}
        if db is not None:
            params["db"] = db
        if epoch is not None:
            params["epoch"] = epoch
        # POST for every statement: InfluxDB 1.x refuses CREATE and DROP sent with GET.
        body = self._post("query", params={}, data=params, what=influxql)
        rows: list[dict[str, Any]] = []
        for result in body.get("results", []):
            if "error" in result:
                raise ServiceError(f"InfluxDB rejected {influxql!r}: {result['error']}")
            for series in result.get("series", []):
                tags = series.get("tags", {})
                rows += [
                    {**tags, **dict(zip(series["columns"], values, strict=True))}
                    for values in series["values"]
                ]
        return rows

    def create_database(self, name: str) -> None:
        """Create a database (no error if it exists)."""
        self.query(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        """Drop a database and its data (no error if it does not exist)."""
        self.query(f'DROP DATABASE "{name}"')

    def write(self, db: str, lines: str | Iterable[str], *, precision: str = "s") -> None:
        """Write line protocol to db; ServiceError with InfluxDB's text if it refuses a point."""
        data = lines if isinstance(lines, str) else "\n".join(lines)
        self._post("write", params={"db": db, "precision": precision}, data=data, what=data)

    def _post(
        self, endpoint: str, *, params: dict[str, str], data: Any, what: str
    ) -> dict[str, Any]:
        """POST to an endpoint; the JSON body, or ServiceError carrying InfluxDB's error text."""
        try:
            response = self._http.post(
                f"{self.url}/{endpoint}", params=params, data=data, timeout=30
            )
        except requests.RequestException as err:
            raise ServiceError(f"InfluxDB at {self.url} did not answer: {err}") from err
        if response.status_code == 204:
            return {}
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {"error": response.text.strip()}
        if response.status_code >= 300 or "error" in body:
            raise ServiceError(
                f"InfluxDB answered HTTP {response.status_code} to {what[:200]!r}: "
                f"{body.get('error', response.text.strip())}"
            )
        return body

    def close(self) -> None:
        super().close()
        self._http.close()
