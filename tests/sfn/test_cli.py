"""`kilowatch sfn` end to end: the CLI in its own process against a moto server in another.

What moto cannot show: Lambda tasks (they need Docker), paging of long histories (moto returns
one page), Distributed Map item counts; those are covered by recorded histories and Stubber.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from .conftest import ALL_STATES, ROLE

RESULTS: dict[str, Any] = {
    "StartAt": "Bill",
    "States": {
        "Bill": {"Type": "Wait", "Seconds": 1, "Next": "Store"},
        "Store": {
            "Type": "Pass",
            "Result": {"plants": 2, "results": "s3://kilowatch-results/billing/2026-10/"},
            "End": True,
        },
    },
}
SLOW: dict[str, Any] = {
    "StartAt": "Sleep",
    "States": {"Sleep": {"Type": "Wait", "Seconds": 60, "End": True}},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server process on a free loopback port, executing state machines for real."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        config = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
        request = urllib.request.Request(f"{url}/moto-api/config", data=config, method="POST")
        urllib.request.urlopen(request, timeout=5)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def env(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the CLI process: boto3 finds the endpoints by itself."""
    cache = tmp_path_factory.mktemp("cache")
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **base,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STEPFUNCTIONS": moto_server,
        "AWS_ENDPOINT_URL_S3": moto_server,
        "KILOWATCH_CACHE_DIR": str(cache),
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def machines(moto_server: str, env: dict[str, str]) -> dict[str, str]:
    """The state machines (and the results bucket) the tests run."""
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="kilowatch-results")
    for name in ("bill.json", "bill.csv"):
        s3.put_object(Bucket="kilowatch-results", Key=f"billing/2026-10/hmo/{name}", Body=b"x")
    arns = {}
    for name, definition in (("all-states", ALL_STATES), ("billing", RESULTS), ("slow", SLOW)):
        arns[name] = sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
    return arns


def kilowatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the kilowatch command in its own process."""
    exe = shutil.which("kilowatch", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-c", "from kilowatch.cli import app; app()"]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_run_watch_succeeds_prints_the_output_and_downloads_results(
    env: dict[str, str], machines: dict[str, str], tmp_path: Path
) -> None:
    done = kilowatch(
        env, "sfn", "run", "billing", "--watch", "--interval", "0.3", "--output", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    assert "billing" in done.stdout and "SUCCEEDED" in done.stdout
    assert '"plants": 2' in done.stdout
    assert (tmp_path / "kilowatch-results/billing/2026-10/hmo/bill.csv").read_bytes() == b"x"
    assert "Downloaded 2 result file(s)" in done.stdout


def test_a_failure_exits_1_and_is_explained_in_words(
    env: dict[str, str], machines: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"days": [1, 2, 3], "fail": True}))
    done = kilowatch(
        env, "sfn", "run", "all-states", "--input", str(data), "--watch", "--interval", "0.3"
    )
    assert done.returncode == 1, done.stderr
    assert "The execution failed in state Boom (Fail)." in done.stdout
    assert "Error: Kilowatch.Asked: the input asked to fail" in done.stdout
    assert "Days: 3/3 items" in done.stdout
    assert "executionFailedEventDetails" not in done.stdout  # no raw history


def test_json_output_for_scripts(
    env: dict[str, str], machines: dict[str, str], tmp_path: Path
) -> None:
    data = tmp_path / "in.json"
    data.write_text(json.dumps({"days": [], "fail": True}))
    done = kilowatch(
        env,
        "sfn",
        "run",
        machines["all-states"],
        "-i",
        str(data),
        "--watch",
        "--json",
        "--interval",
        "0.3",
    )
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["status"] == "FAILED"
    assert doc["error"]["error"] == "Kilowatch.Asked" and doc["error"]["state"] == "Boom"


def test_an_aborted_execution_exits_3(
    env: dict[str, str], machines: dict[str, str], moto_server: str
) -> None:
    done = kilowatch(env, "sfn", "run", "slow", "--name", "to-stop")
    assert done.returncode == 0 and "kilowatch sfn watch" in done.stdout
    arn = machines["slow"].replace(":stateMachine:", ":execution:") + ":to-stop"
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sfn.stop_execution(executionArn=arn, error="Kilowatch.Stopped", cause="by the test")
    watched = kilowatch(env, "sfn", "watch", arn, "--interval", "0.3")
    assert watched.returncode == 3, watched.stdout + watched.stderr
    assert "was stopped" in watched.stdout


def test_list_and_explain(env: dict[str, str], machines: dict[str, str]) -> None:
    listed = kilowatch(env, "sfn", "list", "all-states", "--json")
    assert listed.returncode == 0
    failed = [e for e in json.loads(listed.stdout) if e["status"] == "FAILED"]
    assert failed
    explained = kilowatch(env, "sfn", "explain", failed[0]["executionArn"])
    assert explained.returncode == 1
    assert "state Boom (Fail)" in explained.stdout
    table = kilowatch(env, "sfn", "list", "all-states")
    assert "FAILED" in table.stdout and "started (UTC)" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "no-such-machine"), "error: no state machine named 'no-such-machine'"),
        (("run", "billing", "--input", "/nonexistent.json"), "error: cannot read --input"),
        (("list", "billing", "--status", "DONE"), "error: --status must be one of"),
        (
            ("explain", "arn:aws:states:us-east-1:123456789012:execution:billing:nope"),
            "error: no such execution",
        ),
    ],
)
def test_a_persons_error_is_one_line_and_exit_2(
    env: dict[str, str], machines: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    done = kilowatch(env, "sfn", *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr
    assert "Traceback" not in done.stderr
