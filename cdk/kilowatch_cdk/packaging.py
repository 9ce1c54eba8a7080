"""The processing Lambda's asset, built with pip alone (no Docker), cached by a hash of its inputs.

The asset is a folder Lambda unpacks into /var/task:
- the third-party packages kilowatch's core needs, as manylinux2014_aarch64 cp312 wheels (pip
  `--platform ... --only-binary=:all: --target`), minus EXCLUDED_REQUIREMENTS (not on the
  ingest path), plus the `lambda` extra (Powertools, sentry-sdk);
- the `kilowatch` package's own source (copied, not pip-installed, so pandas is not pulled);
- the handler module(s) from kilowatch_cdk/processing/runtime/ at the top level;
- the plant file's folder (plant file and tariffs) under config/.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_lambda

from kilowatch_cdk.settings import CDK_DIR, REPO_ROOT

logger = logging.getLogger(__name__)

PYTHON_VERSION = "3.12"  # must match the function's runtime (processing/infrastructure.py)
PLATFORM = "manylinux2014_aarch64"  # the function runs on arm64 (Graviton)
# Core dependencies the ingest path never imports: pandas (billing, ETLs) is ~70 MB unzipped.
EXCLUDED_REQUIREMENTS = frozenset({"pandas"})
LAMBDA_EXTRA = "lambda"
BUILD_DIR = CDK_DIR / "build"
RUNTIME_DIR = CDK_DIR / "kilowatch_cdk" / "processing" / "runtime"
HANDLER = "handler.handler"
ORCHESTRATION_RUNTIME_DIR = CDK_DIR / "kilowatch_cdk" / "orchestration" / "runtime"
ORCHESTRATION_EXTRAS = ("data", "chart")
CONFIG_DIR_IN_ASSET = "config"
# Built assets unused for this long are deleted; a younger one may still be in use by another
# synth (several test sessions share cdk/build/).
PRUNE_AFTER_S = 24 * 3600

_SKIP_NAMES = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


class PackagingError(RuntimeError):
    """The Lambda asset could not be built; the message says why and what to do."""


@dataclass(frozen=True, kw_only=True)
class LambdaAsset:
    """A built asset folder and what went into it."""

    path: Path
    requirements: tuple[str, ...]
    plant_file_in_asset: str  # path of the plant file relative to the asset root


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise PackagingError(f"cannot read the requirement {requirement!r} in pyproject.toml")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def lambda_requirements(
    pyproject: Path = REPO_ROOT / "pyproject.toml",
    *,
    extras: tuple[str, ...] = (LAMBDA_EXTRA,),
    excluded: frozenset[str] = EXCLUDED_REQUIREMENTS,
) -> tuple[str, ...]:
    """kilowatch's core dependencies without `excluded`, plus those of `extras`."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    wanted = [*project["dependencies"], *(r for extra in extras for r in optional[extra])]
    return tuple(sorted({r for r in wanted if _requirement_name(r) not in excluded}))


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        skipped = _SKIP_NAMES.intersection(path.relative_to(root).parts)
        if path.is_file() and not skipped and path.suffix not in (".pyc", ".pyo"):
            yield path


def _hash_tree(digest: hashlib._Hash, root: Path) -> None:
    for path in _files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())


def _deps_key(requirements: Iterable[str]) -> str:
    spec = {"requirements": list(requirements), "platform": PLATFORM, "python": PYTHON_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _install_dependencies(requirements: tuple[str, ...], build_dir: Path) -> Path:
    """The third-party packages for the Lambda, built once per requirement set."""
    target = build_dir / f"deps-{_deps_key(requirements)}"
    if (target / ".complete").exists():
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_dir))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile",  # .pyc of the build machine's Python would be useless on 3.12
        "--platform", PLATFORM, "--only-binary=:all:", "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--target", str(staging), *requirements,
    ]  # fmt: skip
    logger.info("building the Lambda's dependencies into %s (pip, no Docker)", target)
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackagingError(
            "pip could not fetch the Lambda's dependencies as aarch64 wheels "
            f"(check the network to PyPI): {result.stderr.strip()[-2000:]}"
        )
    shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: nothing runs them
    (staging / ".complete").write_text("\n".join(requirements) + "\n")
    try:
        staging.rename(target)
    except OSError:  # another process finished the same build first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _copy_tree(source: Path, destination: Path) -> None:
    for path in _files(source):
        out = destination / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)


def _prune(build_dir: Path, keep: Path) -> None:
    """Delete asset folders no synth has used for PRUNE_AFTER_S (reuse refreshes the time)."""
    os.utime(keep)
    cutoff = time.time() - PRUNE_AFTER_S
    for old in build_dir.glob("*-*"):
        if old != keep and old.name.startswith(("lambda-", "tasks-")):
            with contextlib.suppress(FileNotFoundError):
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)


def build_lambda_asset(
    *,
    plant_file: Path,
    build_dir: Path = BUILD_DIR,
    runtime_dir: Path = RUNTIME_DIR,
    package_dir: Path = REPO_ROOT / "kilowatch",
    extras: tuple[str, ...] = (LAMBDA_EXTRA,),
    excluded: frozenset[str] = EXCLUDED_REQUIREMENTS,
    kind: str = "lambda",
) -> LambdaAsset:
    """Build (or reuse) the asset folder for these inputs; a change to any input makes a new one.

    The defaults make the processing Lambda's asset; the workflows' tasks pass their own
    runtime folder and extras (data, chart) and exclude nothing.
    """
    if not plant_file.is_file():
        raise PackagingError(
            f"the plant file {plant_file} does not exist; set plant_file in cdk.json"
        )
    requirements = lambda_requirements(extras=extras, excluded=excluded)
    deps = _install_dependencies(requirements, build_dir)
    config_dir = plant_file.parent
    digest = hashlib.sha256(deps.name.encode())
    for label, root in (("pkg", package_dir), ("runtime", runtime_dir), ("config", config_dir)):
        digest.update(label.encode())
        if root.is_dir():
            _hash_tree(digest, root)
    digest.update(plant_file.name.encode())
    target = build_dir / f"{kind}-{digest.hexdigest()[:16]}"
    plant_in_asset = f"{CONFIG_DIR_IN_ASSET}/{plant_file.name}"
    if not (target / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_dir))
        # Hard links: the dependencies are ~100 MB and never change inside an asset folder.
        shutil.copytree(deps, staging, dirs_exist_ok=True, copy_function=os.link)
        (staging / ".complete").unlink()
        _copy_tree(package_dir, staging / "kilowatch")
        if runtime_dir.is_dir():
            _copy_tree(runtime_dir, staging)
        else:
            logger.warning("%s does not exist yet: the asset has no handler module", runtime_dir)
        _copy_tree(config_dir, staging / CONFIG_DIR_IN_ASSET)
        (staging / ".complete").write_text(plant_in_asset + "\n")
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    _prune(build_dir, target)
    return LambdaAsset(path=target, requirements=requirements, plant_file_in_asset=plant_in_asset)


def build_orchestration_asset(*, plant_file: Path, build_dir: Path = BUILD_DIR) -> LambdaAsset:
    """The workflows' task asset: kilowatch with its data and chart extras (pandas and all)."""
    return build_lambda_asset(
        plant_file=plant_file,
        build_dir=build_dir,
        runtime_dir=ORCHESTRATION_RUNTIME_DIR,
        extras=ORCHESTRATION_EXTRAS,
        excluded=frozenset(),
        kind="tasks",
    )


def zipped_size_bytes(asset: Path) -> int:
    """The asset's size as Lambda receives it: the folder deflate-zipped, as `cdk deploy` does."""
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in _files(asset):
                if path.name != ".complete":
                    archive.write(path, path.relative_to(asset))
        return handle.tell()


def lambda_code(asset: LambdaAsset) -> aws_lambda.Code:
    """The asset as the function's code (the marker file stays out)."""
    return aws_lambda.Code.from_asset(str(asset.path), exclude=[".complete"])
