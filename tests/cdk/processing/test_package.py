"""The handler module in the deployment package: what its import pulls in.

No timing here (bench/bench_lambda.py measures the import); this keeps the ingest path free
of the heavy libraries and checks that the asset holds every package the import needs. What
this cannot show: the import on Lambda's arm64 runtime (the asset's wheels are aarch64, so
the import runs on this machine's own packages).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kilowatch_cdk.packaging import LambdaAsset

from tests.cdk.processing.conftest import POWERTOOLS_ENV, RUNTIME
from tests.support.services import REPO_ROOT

HEAVY = {"pandas", "matplotlib", "pyarrow", "statsmodels", "PySAM", "duckdb"}
LAMBDA_RUNTIME_PROVIDES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six"}
# This venv's urllib3 is urllib3-future (a niquests dependency), which imports jh2; the asset
# holds plain urllib3 from PyPI, which does not.
NOT_IN_PLAIN_URLLIB3 = {"jh2", "qh3", "wassima"}


def _imported_top_level() -> set[str]:
    """Top-level names of the modules `import handler` loads, in a fresh interpreter."""
    code = "import sys, json, handler; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, **POWERTOOLS_ENV, "PYTHONPATH": f"{RUNTIME}{os.pathsep}{REPO_ROOT}"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout)}


def _in_asset(path: Path) -> set[str]:
    return {item.name.split(".")[0] for item in path.iterdir()}


def test_the_handler_imports_no_heavy_library_and_only_what_the_asset_holds(
    lambda_asset: LambdaAsset,
) -> None:
    imported = _imported_top_level()
    assert imported & HEAVY == set()
    assert "sentry_sdk" not in imported  # imported only when a DSN is configured
    third_party = {
        name
        for name in imported - set(sys.stdlib_module_names)
        if not name.startswith("_") and name not in {"handler", "cython_runtime"}
    }
    needed = third_party - LAMBDA_RUNTIME_PROVIDES - NOT_IN_PLAIN_URLLIB3
    assert needed - _in_asset(lambda_asset.path) == set()
    assert (lambda_asset.path / "handler.py").read_bytes() == (RUNTIME / "handler.py").read_bytes()
