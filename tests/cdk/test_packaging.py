"""The Lambda asset built with pip alone: aarch64 cp312 wheels, no pandas, ≤ 50 MB zipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kilowatch_cdk import packaging
from kilowatch_cdk.packaging import LambdaAsset, lambda_requirements, zipped_size_bytes
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
