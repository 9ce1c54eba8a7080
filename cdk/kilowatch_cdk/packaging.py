"""The Lambda assets, built with pip alone (no Docker), cached by a hash of their inputs.

An asset is a folder Lambda unpacks into /var/task:
- third-party packages as manylinux2014_aarch64 cp312 wheels (pip `--platform ...
  --only-binary=:all: --target`): for the processing Lambda, kilowatch's core dependencies minus
  EXCLUDED_REQUIREMENTS (not on the ingest path) plus the `lambda` extra (Powertools,
  sentry-sdk); for each group of workflow tasks, only the distributions its handlers import
  (orchestration/assets.py), pruned of what nothing imports (tests, C/Cython sources, headers);
- the `kilowatch` package's own source (copied, not pip-installed, so pandas is not pulled);
- the handler module(s) from the runtime folder at the top level;
- the plant file's folder (plant file and tariffs) under config/.

`platform=HOST_PLATFORM` builds the same requirement list for the machine running the build
(its Python, its wheels) with the same pruning: a twin the tests import the handlers from,
since an aarch64 asset's binaries cannot load on an x86_64 build machine.
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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_lambda

from kilowatch_cdk.orchestration.assets import TASK_ASSET_DISTRIBUTIONS, TASK_ASSETS, TaskAsset
from kilowatch_cdk.settings import CDK_DIR, REPO_ROOT

logger = logging.getLogger(__name__)

PYTHON_VERSION = "3.12"  # must match the function's runtime (processing/infrastructure.py)
PLATFORM = "manylinux2014_aarch64"  # the function runs on arm64 (Graviton)
# The build machine's own platform and Python: the import-test twin of an asset.
HOST_PLATFORM = "host"
# What the Lambda Python runtime provides (not in the assets); the host twin gets it installed.
RUNTIME_PROVIDED = ("boto3",)
LAMBDA_MAX_UNZIPPED_BYTES = 250 * 1024 * 1024  # Lambda's limit on a function's unzipped code
# Core dependencies the ingest path never imports: pandas (billing, ETLs) is ~70 MB unzipped.
EXCLUDED_REQUIREMENTS = frozenset({"pandas"})
LAMBDA_EXTRA = "lambda"
BUILD_DIR = CDK_DIR / "build"
RUNTIME_DIR = CDK_DIR / "kilowatch_cdk" / "processing" / "runtime"
HANDLER = "handler.handler"
ORCHESTRATION_RUNTIME_DIR = CDK_DIR / "kilowatch_cdk" / "orchestration" / "runtime"
CONFIG_DIR_IN_ASSET = "config"
# Built assets unused for this long are deleted; a younger one may still be in use by another
# synth (several test sessions share cdk/build/).
PRUNE_AFTER_S = 24 * 3600

_SKIP_NAMES = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
# Pruned from the task assets' packages: nothing imports them at run time.
_PRUNED_DIRS = frozenset({"tests", "test", "__pycache__"})  # package test suites, bytecode
_PRUNED_DOC_DIRS = frozenset({"docs", "doc"})  # only when not a package (no __init__.py)
# Cython/C/C++ sources and headers (for building extensions against the package), type stubs.
_PRUNED_SUFFIXES = frozenset(
    {".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".h", ".hh", ".hpp", ".hxx", ".inl", ".pyi"}
)


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


def _pyproject_requirements(pyproject: Path) -> dict[str, str]:
    """Every requirement of pyproject.toml (core and extras), by normalized distribution name."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    everything = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        everything += [r for r in extra if not r.startswith("kilowatch")]
    found: dict[str, str] = {}
    for requirement in everything:
        found.setdefault(_requirement_name(requirement), requirement.split(";")[0].strip())
    return found


def task_requirements(
    asset: TaskAsset,
    pyproject: Path = REPO_ROOT / "pyproject.toml",
    *,
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """The requirements of one task asset, with pyproject.toml's version bounds."""
    known = _pyproject_requirements(pyproject)
    wanted = [*TASK_ASSET_DISTRIBUTIONS[asset], *extra]
    missing = sorted(name for name in wanted if _requirement_name(name) not in known)
    if missing:
        raise PackagingError(
            f"the task asset {asset!r} wants {', '.join(missing)}, which pyproject.toml does "
            "not require; add it there (core or an extra) or drop it from orchestration/assets.py"
        )
    return tuple(sorted({known[_requirement_name(name)] for name in wanted}))


def prune_packages(root: Path) -> int:
    """Delete what no import needs from installed packages; the bytes freed.

    Test suites (`tests`/`test` folders), bytecode, C/Cython sources and headers, type stubs,
    non-package doc folders. Never a module, a shared library or package data.
    """
    freed = 0
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts)):
        if not path.exists() or path.is_symlink():
            continue
        if path.is_dir():
            doc = path.name in _PRUNED_DOC_DIRS and not (path / "__init__.py").exists()
            if path.name in _PRUNED_DIRS or doc:
                freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
        elif path.suffix in _PRUNED_SUFFIXES:
            freed += path.stat().st_size
            path.unlink()
    return freed


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        skipped = _SKIP_NAMES.intersection(path.relative_to(root).parts)
        if path.is_file() and not skipped and path.suffix not in (".pyc", ".pyo"):
            yield path


def _hash_tree(digest: hashlib._Hash, root: Path) -> None:
    for path in _files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())


def _deps_key(requirements: Iterable[str], platform: str = PLATFORM, pruned: bool = False) -> str:
    python = PYTHON_VERSION if platform != HOST_PLATFORM else f"{sys.version_info[:2]}"
    spec: dict[str, object] = {
        "requirements": list(requirements),
        "platform": platform,
        "python": python,
    }
    if pruned:  # unpruned sets keep their earlier key (and cache folder)
        spec["pruned"] = sorted(_PRUNED_DIRS | _PRUNED_DOC_DIRS | _PRUNED_SUFFIXES)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _install_dependencies(
    requirements: tuple[str, ...],
    build_dir: Path,
    *,
    platform: str = PLATFORM,
    prune: bool = False,
) -> Path:
    """The third-party packages for the Lambda, built once per requirement set and platform."""
    target = build_dir / f"deps-{_deps_key(requirements, platform, prune)}"
    if (target / ".complete").exists():
        os.utime(target)  # in use: keep it from the clean-up of old folders
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=build_dir))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile",  # .pyc of the build machine's Python would be useless on 3.12
        "--only-binary=:all:", "--target", str(staging),
    ]  # fmt: skip
    if platform != HOST_PLATFORM:
        command += [
            "--platform", platform, "--implementation", "cp", "--python-version", PYTHON_VERSION
        ]  # fmt: skip
    command += requirements
    logger.info("building Lambda dependencies into %s (pip, %s, no Docker)", target, platform)
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackagingError(
            "pip could not fetch the Lambda's dependencies as aarch64 wheels "
            f"(check the network to PyPI): {result.stderr.strip()[-2000:]}"
        )
    shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: nothing runs them
    if prune:
        freed = prune_packages(staging)
        logger.info("pruned %.1f MB of tests, sources and headers", freed / 1e6)
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
        if old != keep and old.name.startswith(("lambda-", "tasks-", "twin-", "deps-")):
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
    requirements: tuple[str, ...] | None = None,
    platform: str = PLATFORM,
    prune: bool = False,
    kind: str = "lambda",
) -> LambdaAsset:
    """Build (or reuse) the asset folder for these inputs; a change to any input makes a new one.

    The defaults make the processing Lambda's asset (the core's requirements minus `excluded`
    plus `extras`); the workflow tasks pass their own `requirements`, runtime folder and
    `prune=True` (build_task_assets).
    """
    if not plant_file.is_file():
        raise PackagingError(
            f"the plant file {plant_file} does not exist; set plant_file in cdk.json"
        )
    if requirements is None:
        requirements = lambda_requirements(extras=extras, excluded=excluded)
    deps = _install_dependencies(requirements, build_dir, platform=platform, prune=prune)
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


@dataclass(frozen=True, kw_only=True)
class TaskAssets:
    """The workflow tasks' assets, one per group of tasks (orchestration/assets.py)."""

    assets: Mapping[TaskAsset, LambdaAsset]

    @property
    def plant_file_in_asset(self) -> str:
        """The plant file's path in every one of the assets (the same in each)."""
        (path,) = {asset.plant_file_in_asset for asset in self.assets.values()}
        return path

    def code(self) -> dict[TaskAsset, aws_lambda.Code]:
        """Each asset as a function's code."""
        return {name: lambda_code(asset) for name, asset in self.assets.items()}


def installed_distributions(root: Path) -> tuple[str, ...]:
    """`name==version` of every distribution pip installed into `root` (its .dist-info)."""
    pins = []
    for info in sorted(root.glob("*.dist-info")):
        fields: dict[str, str] = {}
        for line in (info / "METADATA").read_text(encoding="utf-8").splitlines():
            if not line:
                break  # the headers end at the first blank line
            key, _, value = line.partition(": ")
            fields.setdefault(key, value.strip())
        pins.append(f"{fields['Name']}=={fields['Version']}")
    return tuple(pins)


def build_task_asset(
    asset: TaskAsset,
    *,
    plant_file: Path,
    build_dir: Path = BUILD_DIR,
    platform: str = PLATFORM,
) -> LambdaAsset:
    """One group of workflow tasks' asset: only the distributions its handlers import, pruned.

    `platform=HOST_PLATFORM`: the import-test twin of the aarch64 asset: the very versions pip
    chose for it (pinned; manylinux2014_aarch64 wheels are often older releases than the host's)
    plus what the Lambda runtime provides (boto3), built for this machine, pruned alike.
    """
    requirements = task_requirements(asset)
    kind = f"tasks-{asset}"
    if platform == HOST_PLATFORM:
        lambda_asset = build_task_asset(asset, plant_file=plant_file, build_dir=build_dir)
        requirements = (*installed_distributions(lambda_asset.path), *RUNTIME_PROVIDED)
        kind = f"twin-{asset}"
    return build_lambda_asset(
        plant_file=plant_file,
        build_dir=build_dir,
        runtime_dir=ORCHESTRATION_RUNTIME_DIR,
        requirements=requirements,
        platform=platform,
        prune=True,
        kind=kind,
    )


def build_orchestration_asset(*, plant_file: Path, build_dir: Path = BUILD_DIR) -> TaskAssets:
    """The workflows' task assets: client data, billing, recost (each under Lambda's 250 MB)."""
    return TaskAssets(
        assets={
            name: build_task_asset(name, plant_file=plant_file, build_dir=build_dir)
            for name in TASK_ASSETS
        }
    )


def unzipped_size_bytes(asset: Path) -> int:
    """The asset's size once Lambda has unzipped it (what its 250 MB limit counts)."""
    return sum(p.stat().st_size for p in _files(asset) if p.name != ".complete")


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
