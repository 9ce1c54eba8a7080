"""The Lambda assets built with pip alone: aarch64 cp312 wheels; the processing one without pandas
and ≤ 50 MB zipped, each workflow task asset with only its imports and under Lambda's 250 MB."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kilowatch_cdk import packaging
from kilowatch_cdk.orchestration.assets import LAZY_IMPORTS, TASK_ASSETS, TaskAsset
from kilowatch_cdk.orchestration.infrastructure import TASKS
from kilowatch_cdk.packaging import (
    HOST_PLATFORM,
    LAMBDA_MAX_UNZIPPED_BYTES,
    LambdaAsset,
    TaskAssets,
    build_task_asset,
    lambda_requirements,
    prune_packages,
    task_requirements,
    unzipped_size_bytes,
    zipped_size_bytes,
)
from kilowatch_cdk.settings import KilowatchSettings

MAX_ZIPPED_BYTES = 50 * 1024 * 1024  # the bound (Lambda itself allows 50 MB zipped uploads)


def test_requirements_are_the_core_without_pandas_plus_the_lambda_extra() -> None:
    names = {packaging._requirement_name(r) for r in lambda_requirements()}
    assert "pandas" not in names
    assert {
        "aws-lambda-powertools",
        "sentry-sdk",
        "msgspec",
        "pydantic",
        "influxdb-client",
    } <= names
    assert "matplotlib" not in names and "boto3" not in names  # boto3 comes with the runtime


def test_asset_holds_the_package_config_and_aarch64_cp312_binaries(
    lambda_asset: LambdaAsset,
) -> None:
    root = lambda_asset.path
    assert (root / "kilowatch" / "__init__.py").is_file()
    assert (root / lambda_asset.plant_file_in_asset).is_file()
    assert (root / "config" / "tariffs" / "cfe-gdmth-noroeste.yaml").is_file()
    assert (root / "aws_lambda_powertools").is_dir() and (root / "sentry_sdk").is_dir()
    assert not (root / "pandas").exists()
    binaries = [p.name for p in root.rglob("*.so")]
    assert binaries
    assert all("x86_64" not in name for name in binaries)
    assert any(name.endswith("cpython-312-aarch64-linux-gnu.so") for name in binaries)
    assert not list(root.rglob("*.pyc"))


def test_asset_has_the_handler_module(lambda_asset: LambdaAsset) -> None:
    """handler.py comes from kilowatch_cdk/processing/runtime/ (written by the Lambda's owner)."""
    assert (lambda_asset.path / "handler.py").is_file(), (
        f"no handler.py in {packaging.RUNTIME_DIR}: the handler {packaging.HANDLER} has no module"
    )


def test_asset_is_at_most_50_mb_zipped(lambda_asset: LambdaAsset) -> None:
    size = zipped_size_bytes(lambda_asset.path)
    print(f"Lambda asset: {size / 1e6:.1f} MB zipped")
    assert size <= MAX_ZIPPED_BYTES


def test_same_inputs_reuse_the_built_asset(cdk_settings: KilowatchSettings) -> None:
    first = packaging.build_lambda_asset(plant_file=cdk_settings.plant_file_path)
    marker = first.path / ".complete"
    built_at = marker.stat().st_mtime_ns
    again = packaging.build_lambda_asset(plant_file=cdk_settings.plant_file_path)
    assert again.path == first.path
    assert marker.stat().st_mtime_ns == built_at  # reused, not rebuilt


def test_a_changed_input_gives_a_new_asset(tmp_path: Path, cdk_settings: KilowatchSettings) -> None:
    config = tmp_path / "config"
    config.mkdir()
    plant_file = config / "plants.yaml"
    plant_file.write_text(cdk_settings.plant_file_path.read_text() + "# changed\n")
    asset = packaging.build_lambda_asset(plant_file=plant_file, build_dir=packaging.BUILD_DIR)
    assert asset.plant_file_in_asset == "config/plants.yaml"
    assert (asset.path / "config" / "plants.yaml").read_text().endswith("# changed\n")


def test_the_ingest_path_imports_without_pandas() -> None:
    """The asset leaves pandas out: the processing core and the writer must not need it."""
    code = (
        "import sys; sys.modules['pandas'] = None; sys.modules['matplotlib'] = None\n"
        "import kilowatch.processing, kilowatch.contract, kilowatch.influx.writer\n"
        "import kilowatch.config\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


# --- the workflow tasks' assets -------------------------------------------------------------

TASKS_MODULE = packaging.ORCHESTRATION_RUNTIME_DIR / "orchestration_tasks.py"
# Too big for a task asset and imported by no task (the enpi regression, InfluxDB 3's client).
NEVER_IN_TASKS = {"scipy", "statsmodels", "influxdb3-python", "influxdb-client-3", "datafusion"}


def _names(requirements: tuple[str, ...]) -> set[str]:
    return {packaging._requirement_name(r) for r in requirements}


def test_each_task_asset_asks_only_for_what_its_tasks_import() -> None:
    client, billing, recost = (_names(task_requirements(name)) for name in TASK_ASSETS)
    assert {"pandas", "pandera", "pyarrow", "openpyxl", "greenbutton-objects"} <= client
    assert "matplotlib" in billing and "pyarrow" not in billing
    assert recost < billing and "matplotlib" not in recost
    for names in (client, billing, recost):
        assert not names & NEVER_IN_TASKS
        assert "boto3" not in names  # the Lambda runtime has it
    assert {spec.asset for spec in TASKS.values()} == set(TASK_ASSETS)


def test_pruning_drops_tests_and_sources_but_never_modules_or_libraries(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "x" * 10,
        "pkg/core.py": "x" * 10,
        "pkg/_ext.cpython-312-aarch64-linux-gnu.so": "x" * 10,
        "pkg/libarrow.so.2000": "x" * 10,
        "pkg/data/font.ttf": "x" * 10,
        "pkg/testing.py": "x" * 10,  # a module named like a test helper: kept
        "pkg/tests/__init__.py": "x" * 10,
        "pkg/tests/test_core.py": "x" * 100,
        "pkg/_ext.pyx": "x" * 10,
        "pkg/include/arrow/api.h": "x" * 10,
        "pkg/core.pyi": "x" * 10,
        "pkg/docs/index.rst": "x" * 10,
        "pkg/doc/__init__.py": "x" * 10,  # a package called doc: kept
    }
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    freed = prune_packages(tmp_path)
    left = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert left == {
        "pkg/__init__.py",
        "pkg/core.py",
        "pkg/_ext.cpython-312-aarch64-linux-gnu.so",
        "pkg/libarrow.so.2000",
        "pkg/data/font.ttf",
        "pkg/testing.py",
        "pkg/doc/__init__.py",
    }
    assert freed == 110 + 10 * 4


@pytest.mark.parametrize("name", TASK_ASSETS)
def test_each_task_asset_fits_lambda(orchestration_asset: TaskAssets, name: TaskAsset) -> None:
    """Lambda unzips a function's code into at most 250 MB (262,144,000 bytes).

    The zipped size has no limit here (CDK uploads the asset to S3, not in the API call), so it
    is not measured: zipping ~500 MB of assets took ~14 s of every run.
    """
    asset = orchestration_asset.assets[name]
    unzipped = unzipped_size_bytes(asset.path)
    print(f"task asset {name}: {unzipped / 2**20:.1f} MiB unzipped")
    assert unzipped <= LAMBDA_MAX_UNZIPPED_BYTES
    root = asset.path
    assert (root / "orchestration_tasks.py").is_file() and (root / "kilowatch").is_dir()
    assert (root / orchestration_asset.plant_file_in_asset).is_file()
    binaries = [p.name for p in root.rglob("*.so")]
    assert any(b.endswith("cpython-312-aarch64-linux-gnu.so") for b in binaries)
    assert all("x86_64" not in b for b in binaries)
    assert not list(root.rglob("tests")) and not list(root.rglob("*.pyx"))
    present = {p.name.split("-")[0].lower() for p in root.glob("*.dist-info")}
    assert not present & {"scipy", "statsmodels", "boto3", "botocore"}


def _handler_imports(asset: TaskAsset) -> list[str]:
    """Every module the asset's handlers import inside their bodies (and the helpers they call)."""
    tree = ast.parse(TASKS_MODULE.read_text(encoding="utf-8"))
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    helpers = [name for name in functions if name.startswith("_") or name in ("s3", "influx")]
    wanted = {spec.handler for spec in TASKS.values() if spec.asset == asset} | {"task"}
    source = " ".join(ast.unparse(functions[name]) for name in wanted)
    wanted |= {name for name in helpers if f"{name}(" in source}
    found: set[str] = set()
    for name in wanted:
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
    return sorted(found)


# What each asset must be able to do beyond importing: the calls that load optional parts.
_SMOKE: dict[TaskAsset, str] = {
    "client-data": (
        "import io, pandas as pd\n"
        "buffer = io.BytesIO()\n"
        "pd.DataFrame({'day': pd.to_datetime(['2026-10-05']), 'units': [1.5]}).to_parquet(buffer)\n"
        "assert pd.read_parquet(io.BytesIO(buffer.getvalue()))['units'].tolist() == [1.5]\n"
    ),
    "billing": (
        "import io, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\n"
        "figure, axes = plt.subplots()\n"
        "axes.plot([1, 2], [3, 4])\n"
        "buffer = io.BytesIO()\n"
        "figure.savefig(buffer, format='png')\n"
        "assert buffer.getvalue()[:4] == b'\\x89PNG'\n"
    ),
    "recost": "",
}


@pytest.fixture(scope="module")
def twins(cdk_settings: KilowatchSettings) -> dict[TaskAsset, LambdaAsset]:
    """Each task asset's host-platform twin (built once, cached in cdk/build/)."""
    return {
        name: build_task_asset(
            name, plant_file=cdk_settings.plant_file_path, platform=HOST_PLATFORM
        )
        for name in TASK_ASSETS
    }


@pytest.mark.parametrize("name", TASK_ASSETS)
def test_the_handlers_import_with_only_their_assets_packages(
    twins: dict[TaskAsset, LambdaAsset], name: TaskAsset, tmp_path: Path
) -> None:
    """The asset is aarch64 and this machine x86_64, so its binaries cannot load here: the test
    uses the asset's twin, built by the same packaging code (build_task_asset with
    platform=HOST_PLATFORM) from the very versions pip chose for the asset, pruned by the same
    prune_packages, plus boto3 (the Lambda runtime's). A fresh interpreter without site-packages
    (`python -S`, PYTHONPATH = the twin alone) imports the handler module, every module the
    asset's handlers import (also those imported lazily inside functions), and runs the calls
    that load optional parts (Parquet, the PNG chart)."""
    twin = twins[name]
    modules = ["orchestration_tasks", *_handler_imports(name), *LAZY_IMPORTS[name]]
    code = (
        "import importlib, sys\n"
        f"for module in {modules!r}:\n"
        "    importlib.import_module(module)\n"
        f"{_SMOKE[name]}"
        "outside = [m.__file__ for m in list(sys.modules.values())\n"
        "           if getattr(m, '__file__', None) and 'site-packages' in m.__file__]\n"
        "assert not outside, outside\n"
        "for absent in ('scipy', 'statsmodels'):\n"
        "    assert importlib.util.find_spec(absent) is None, absent\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(twin.path), "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": str(tmp_path), "HOME": str(tmp_path)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


# The handlers of each asset, run one after the other in its twin (JSON of each result printed).
_RUNS: dict[TaskAsset, str] = {
    "client-data": (
        "key = 'uploads/sea/production/october.csv'\n"
        "validated = t.validate({'bucket': 'ingest', 'key': key, 'execution': 'e'})\n"
        "done = [validated, t.load({'validated': validated['summary'], 'execution': 'e'}),\n"
        "        t.indicators({'validated': validated['summary'], 'execution': 'e'})]\n"
        "bills = t.validate(\n"
        "    {'bucket': 'ingest', 'key': 'uploads/sea/bills/2026.csv', 'execution': 'e'})\n"
        "done.append(t.reconcile({'validated': bills['summary'], 'execution': 'e'}))\n"
    ),
    "billing": (
        "done = [t.plan_billing({'period': '2026-10'}),\n"
        "        t.bill_plant({'plant': 'sea', 'period': '2026-10', 'execution': 'b'})]\n"
    ),
    "recost": (
        "done = [t.plan_recost({'plant': 'sea', 'from': '2026-10-05', 'to': '2026-10-08'}),\n"
        "        t.recost_day({'plant': 'sea', 'day': '2026-10-06', 'execution': 'r'}),\n"
        "        t.summarize({'workflow': 'recost', 'execution': 'r', 'steps': {}})]\n"
    ),
}


def _store_readings(influxdb: Any, db: str, plant_file: Path) -> None:
    """Three days of 15-minute readings of meter assembly-01 of plant sea, as the bridge
    stores them (kilowatch.processing costs them, kilowatch.influx.schema lays them out)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from kilowatch.config import load_config
    from kilowatch.influx.schema import LineLayout
    from kilowatch.processing import Message, Processor

    start = int(datetime(2026, 10, 5, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp())
    payload = [
        {"ts": start + 900 * (k + 1), "energy_kwh": 10.0 + k % 4, "interval_s": 900}
        for k in range(3 * 96)
    ]
    messages = [Message("kilowatch/sea/assembly-01/readings", json.dumps(payload).encode(), 0.0)]
    processed = Processor(load_config(plant_file)).process(messages, now=start + 4 * 86_400)
    lines = [line for batch in LineLayout().batch_lines(processed, messages) for line in batch]
    influxdb.write(db, lines, precision="ns")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port (the twins' boto3 reaches it by URL)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.integration
@pytest.mark.parametrize("name", TASK_ASSETS)
def test_the_tasks_run_with_only_their_assets_packages(
    twins: dict[TaskAsset, LambdaAsset],
    name: TaskAsset,
    s3_endpoint: str,
    influxdb: Any,
    influx_db_name: str,
    tmp_path: Path,
) -> None:
    """Each asset's handlers run end to end in its host twin (see the import test above for
    what a twin is), with the plant file bundled in it: S3 is moto's server (what moto cannot
    show: IAM, KMS, the VPC endpoints), InfluxDB a real 1.x. Proves the lazy imports inside
    kilowatch (pandera, openpyxl, the chart) and the asset's package versions, which are older
    than a developer's (manylinux2014 wheels), do the job."""
    import boto3

    twin = twins[name]
    plant_file = twin.path / twin.plant_file_in_asset
    _store_readings(influxdb, influx_db_name, plant_file)
    aws = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    results = f"results-{influx_db_name.replace('_', '-')[:40]}".lower()
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=results)
    if name == "client-data":
        s3.create_bucket(Bucket="ingest")
        s3.put_object(
            Bucket="ingest",
            Key="uploads/sea/production/october.csv",
            Body=b"date,line,product,units\n2026-10-05,assembly,widget,120\n"
            b"2026-10-06,assembly,widget,130\n",
        )
        s3.put_object(
            Bucket="ingest",
            Key="uploads/sea/bills/2026.csv",
            Body=b"period,energy_kwh\n2026-10,1000\n",
        )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(twin.path),
        "HOME": str(tmp_path),
        "MPLCONFIGDIR": str(tmp_path),
        **aws,
        "KILOWATCH_RESULTS_BUCKET": results,
        "KILOWATCH_CONFIG": str(plant_file),
        "KILOWATCH_INFLUX_URL": influxdb.url,
        "KILOWATCH_INFLUX_BUCKET": influx_db_name,
        "KILOWATCH_INFLUX_VERSION": "1",
        "KILOWATCH_INFLUX_TOKEN": "",
    }
    code = (
        "import json, sys\n"
        "import orchestration_tasks as t\n"
        f"{_RUNS[name]}"
        "print(json.dumps(done))\n"
        "assert 'scipy' not in sys.modules and 'statsmodels' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    done = json.loads(result.stdout.strip().splitlines()[-1])
    summaries = [step["summary"] for step in done]
    if name == "client-data":
        assert summaries[0]["rows"] == 2 and summaries[1] == {"plant": "sea", "points": 2}
        assert summaries[2]["line_days"] == 2
        assert summaries[3]["periods"] == 1  # the bill reconciled inside the asset's twin
    elif name == "billing":
        assert summaries[0]["plants"] == ["hmo", "sea"] and summaries[1]["total"] > 0
        png = s3.get_object(Bucket=results, Key="billing/2026-10/sea/bill.png")["Body"].read()
        assert png[:4] == b"\x89PNG"
    else:
        assert summaries[0]["count"] == 3 and summaries[1]["points"] == 96
        assert done[2]["results"] == f"s3://{results}/runs/recost/r.json"
