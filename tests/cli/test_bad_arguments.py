"""Every subcommand, given bad arguments, answers as a person needs: one `error: ...` line on
stderr and exit status 2, never a traceback or pydantic's wording.

Each case runs the real `kilowatch` entry point (`kilowatch.cli.app`, the console script's
target) in a forked child of this process: isolated like a subprocess, but without paying the
interpreter start-up per case. The commands are found by walking the typer app, so a command
group added later is covered without editing this file.
"""

from __future__ import annotations

import enum
import io
import os
import select
import signal
import sys
import time
import traceback
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from kilowatch.cli import app
from tests.support.services import REPO_ROOT

CASE_TIMEOUT_S = 60.0
UNWRITABLE = "/etc/hostname/no/such/dir/out.x"  # below a file: no one can create it
PYDANTIC_WORDING = (
    "Value error,",
    "Extra inputs are not permitted",
    "validation error for",
    "Input should be",
)


@dataclass(frozen=True)
class Outcome:
    code: int | None  # None: killed after CASE_TIMEOUT_S
    stdout: str
    stderr: str


def run(argv: list[str], cwd: Path) -> Outcome:
    """`kilowatch ARGV...` in a forked child; its exit status, stdout and stderr."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become `kilowatch ARGV...`
        code = 70
        try:
            os.chdir(cwd)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
            sys.argv = ["kilowatch", *argv]
            app(args=argv, prog_name="kilowatch")
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 70
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline = time.monotonic() + CASE_TIMEOUT_S
    open_fds = [out_r, err_r]
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(open_fds, [], [], 0.5)
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.remove(fd)
    code: int | None
    if open_fds:  # still running: a hang, not an answer
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        code = None
    else:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    for fd in (out_r, err_r):
        os.close(fd)
    text = {fd: b"".join(parts).decode(errors="replace") for fd, parts in chunks.items()}
    return Outcome(code, text[out_r], text[err_r])


def commands() -> Iterator[tuple[list[str], typer.main.TyperCommand]]:
    """(path, command) of every leaf command of the app, e.g. (['query', 'energy'], ...)."""
    root = typer.main.get_command(app)

    def walk(path: list[str], command: object) -> Iterator[tuple[list[str], object]]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                yield from walk([*path, name], sub)
        else:
            yield path, command

    yield from walk([], root)  # type: ignore[misc]


def _first_long(opts: list[str]) -> str:
    return next((opt for opt in opts if opt.startswith("--")), opts[0])


def _kind(param: object) -> str:
    """'number', 'choice', 'path', 'bool' or 'text', from the parameter's Python annotation."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", str)
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        return "number"
    if typing.get_origin(annotation) is typing.Literal or (
        isinstance(annotation, type) and issubclass(annotation, enum.Enum)
    ):
        return "choice"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    return "text"


def bad_cases(command: object) -> Iterator[tuple[str, list[str]]]:
    """(what is wrong, extra argv) for one command, its required parameters filled with junk."""
    params = [p for p in getattr(command, "params", []) if p.name not in ("help",)]
    required: list[str] = []
    for param in params:
        if not param.required:
            continue
        if param.param_type_name == "argument":
            required.append(UNWRITABLE)
        else:
            junk = UNWRITABLE if _kind(param) == "path" else "x"
            required += [_first_long(param.opts), junk]
    if any(p.required for p in params):
        yield "nothing given", []
    yield "an unknown flag", [*required, "--no-such-flag"]
    if not any(p.param_type_name == "argument" and p.nargs == -1 for p in params):
        yield "an extra argument", [*required, "extra-argument"]
    for param in params:
        if param.param_type_name != "option" or param.is_flag or _kind(param) == "bool":
            continue
        flag = _first_long(param.opts)
        kind = _kind(param)
        if kind == "number":
            yield f"{flag} not a number", [*required, flag, "not-a-number"]
        elif kind == "choice":
            yield f"{flag} not a choice", [*required, flag, "no-such-choice"]
        elif flag == "--log-level":
            yield "--log-level LOUD", [*required, flag, "LOUD"]
        elif kind == "path" or any(w in flag for w in ("out", "file", "chart", "dir", "config")):
            yield f"{flag} unusable path", [*required, flag, UNWRITABLE]


def all_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for path, command in commands():
        for what, argv in bad_cases(command):
            cases.append((f"{' '.join(path)}: {what}", [*path, *argv]))
    return cases


# The rough edges the issue names, exactly as a new user typed them.
NAMED = [
    (
        "bill chart folder missing",
        "bill --plant hmo --period 2026-10 --chart /nonexistent/dir/x.png",
    ),
    ("import-urdb into a missing folder", "import-urdb URDB -o /nonexistent/x.yaml"),
    ("import-urdb into a folder", "import-urdb URDB -o /tmp"),
    ("dashboards build over a file", "dashboards build --out /etc/hostname"),
    ("bridge --log-level LOUD", "bridge --log-level LOUD"),
    ("simulate --log-level LOUD", "simulate --log-level LOUD"),
    ("bill --log-level LOUD", "bill --plant hmo --period 2026-10 --log-level LOUD"),
    ("bill URL without scheme", "bill --plant hmo --period 2026-10 --influx-url localhost:8086"),
    (
        "recost --influx-version 3",
        "recost --plant hmo --from 2026-10-01 --to 2026-10-02 --influx-version 3",
    ),
    ("bill --meter nope", "bill --plant hmo --period 2026-10 --meter nope"),
    ("recost --meter nope", "recost --plant hmo --from 2026-10-01 --to 2026-10-02 --meter nope"),
    ("bill from an unreachable InfluxDB", "bill --plant hmo --period 2026-10"),
    ("bill --format xml", "bill --plant hmo --period 2026-10 --format xml"),
    ("bill --period 2026-13", "bill --plant hmo --period 2026-13"),
    ("simulate --backfill 3x", "simulate --backfill 3x"),
    ("simulate with a missing plant file", "simulate --config /nonexistent.yaml"),
    ("bridge with a missing plant file", "bridge --config /nonexistent.yaml"),
    ("agent with a missing agent file", "agent --config /nonexistent.yaml"),
    ("simulate --modbus with an unknown map", "simulate --modbus 1502 --modbus-map nope"),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with the repository's config/ (the default plant file's place)."""
    path = tmp_path_factory.mktemp("cwd")
    (path / "config").symlink_to(REPO_ROOT / "config")
    return path


@pytest.fixture(autouse=True)
def _nothing_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Services that refuse at once (no waits on real ones), no AWS credentials."""
    monkeypatch.setenv("KILOWATCH_INFLUX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("KILOWATCH_MQTT_URL", "mqtt://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "GRAFANA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def check(outcome: Outcome, what: str) -> None:
    shown = f"{what}\nexit {outcome.code}\nstdout: {outcome.stdout[-2000:]}\nstderr: {outcome.stderr[-3000:]}"  # noqa: E501
    assert outcome.code is not None, f"hung instead of refusing: {shown}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, shown
    assert outcome.code == 2, shown
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, f"expected one 'error: ...' line: {shown}"
    assert not any(w in outcome.stderr for w in PYDANTIC_WORDING), shown


def test_every_subcommand_refuses_bad_arguments_in_one_sentence(workdir: Path) -> None:
    cases = all_cases()
    groups = {argv[0] for _, argv in cases}
    # The groups other teams add are walked too (not a fixed list).
    assert {"bridge", "simulate", "agent", "bill", "recost", "import-urdb"} <= groups
    assert {"query", "etl", "sfn", "alerts", "aws", "dashboards"} <= groups
    failures = []
    for what, argv in cases:
        outcome = run(argv, workdir)
        try:
            check(outcome, f"kilowatch {' '.join(argv)}  ({what})")
        except AssertionError as err:
            failures.append(str(err))
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n\n" + "\n\n".join(failures)


@pytest.mark.parametrize(("what", "command"), NAMED, ids=[what for what, _ in NAMED])
def test_the_rough_edges_new_users_hit(what: str, command: str, workdir: Path) -> None:
    urdb = next((REPO_ROOT / "config" / "tariffs" / "urdb").glob("*.json"))
    argv = [str(urdb) if arg == "URDB" else arg for arg in command.split()]
    check(run(argv, workdir), f"kilowatch {' '.join(argv)}  ({what})")


def test_version_help_and_defaults(workdir: Path) -> None:
    from kilowatch import __version__

    version = run(["--version"], workdir)
    assert (version.code, version.stdout.strip()) == (0, f"kilowatch {__version__}")
    short = run(["-h"], workdir)
    assert short.code == 0 and "bridge" in short.stdout
    for path, _ in commands():  # every command of every group takes -h
        shown = run([*path, "-h"], workdir)
        assert shown.code == 0 and "Usage:" in shown.stdout, (path, shown)
    for command in ("bridge", "simulate", "bill", "recost", "agent"):
        shown = run([command, "-h"], workdir)
        assert shown.code == 0, shown
        assert "[default: INFO]" in shown.stdout, f"{command}: one log-level default"
    bill = run(["bill", "-h"], workdir).stdout
    for flag in ("--influx-org", "--influx-version", "KILOWATCH_INFLUX_TOKEN"):
        assert flag in bill
    assert "--tariff-version" in run(["import-urdb", "-h"], workdir).stdout


def test_errors_name_the_flag_typed_or_the_variable_set(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed = run(["bill", "--plant", "hmo", "--period", "2026-10", "--influx-url", "x"], workdir)
    assert typed.stderr.startswith("error: --influx-url: must start with http"), typed
    monkeypatch.setenv("KILOWATCH_INFLUX_URL", "x")
    from_env = run(["bill", "--plant", "hmo", "--period", "2026-10"], workdir)
    assert from_env.stderr.startswith("error: KILOWATCH_INFLUX_URL: must start with"), from_env


def test_plant_file_errors_give_file_and_line(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text(
        "plants:\n  - id: x\n    name: X\n    timezone: Mars/Base\n    tariff: t.yaml\n"
        "    colour: red\n",
        encoding="utf-8",
    )
    (workdir / "broken.yaml").write_text("plants:\n  - id: [x\n", encoding="utf-8")
    invalid = run(["bill", "--plant", "x", "--period", "2026-10", "-c", "bad.yaml"], workdir)
    check(invalid, "a plant file with wrong values")
    assert "plant file bad.yaml is invalid: line 4: plants.0.timezone: 'Mars/Base'" in (
        invalid.stderr
    )
    assert "line 6: plants.0.colour: unknown key" in invalid.stderr
    broken = run(["bridge", "-c", "broken.yaml"], workdir)
    check(broken, "a plant file that is not YAML")
    assert broken.stderr.startswith("error: plant file broken.yaml is not valid YAML at line 3")


def test_simulate_modbus_on_a_taken_port(workdir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        outcome = run(["simulate", "--modbus", str(port)], workdir)
    check(outcome, "simulate --modbus on a port in use")
    assert f"error: --modbus {port}: cannot listen on 127.0.0.1:{port}" in outcome.stderr
