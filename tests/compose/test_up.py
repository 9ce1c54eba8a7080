"""`./up`, the one command that runs the product: its first run writes .env with new secrets."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

from tests.support.services import REPO_ROOT


def run_up(directory: Path, *args: str) -> str:
    """Run a copy of ./up in directory, with a `docker` that only records its arguments (no
    Docker engine runs here; tests/compose/test_stack.py runs the real stack where one does)."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\n')
    docker.chmod(0o755)
    subprocess.run(
        ["bash", str(directory / "up"), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=True,
        capture_output=True,
        timeout=30,
    )
    return (bin_dir / "args").read_text().strip()


def test_first_run_writes_env_with_a_new_secret_for_each_change_me(tmp_path: Path) -> None:
    for name in ("up", ".env.example"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    assert run_up(tmp_path, "-d") == "compose up -d"

    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    example = (REPO_ROOT / ".env.example").read_text().splitlines()
    written = env.read_text().splitlines()
    assert len(written) == len(example)
    secrets = []
    for before, after in zip(example, written, strict=True):
        if re.fullmatch(r"[A-Z_]+=change-me", before):
            name, value = after.split("=", 1)
            assert before.startswith(name + "=")
            assert re.fullmatch(r"[0-9a-f]{48}", value), after
            secrets.append(value)
        else:
            assert after == before
    assert len(secrets) == len(set(secrets)) >= 5  # one new value each

    # Later runs keep .env: the secrets are those InfluxDB and Grafana were set up with.
    kept = env.read_text()
    run_up(tmp_path)
    assert env.read_text() == kept
