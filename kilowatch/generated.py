"""Files generated from Python sources (dashboards, alerting): write them, and find drift (pure
file handling; each generator renders its own text).

The output folder belongs to the generator: files matching its pattern that it does not write
are removed by a build and reported by a check.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType


def load_source(source: Path, name: str, error: type[Exception]) -> ModuleType:
    """Run a Python source file as module `name`; any failure raises `error` naming the file
    (the file is someone's code: its own exception would be a traceback to them)."""
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise error(f"{source} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise error(f"{source} failed: {type(err).__name__}: {err}") from err
    return module


def write_generated(rendered: Mapping[str, str], out_dir: Path, pattern: str) -> list[Path]:
    """Write each name -> text into out_dir (unchanged files are left alone) and remove the
    files matching `pattern` that are not among them; the paths written, in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered.items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in sorted(out_dir.glob(pattern)):
        if stale.name not in rendered:
            stale.unlink()
    return written


def drift(
    rendered: Mapping[str, str],
    out_dir: Path,
    pattern: str,
    *,
    source_of: Callable[[str], str],
    hint: str,
    sourceless: str = "is not generated from any source",
) -> list[str]:
    """Sentences naming each generated file that is missing, differs from what its source
    (`source_of(name)`) gives, or matches `pattern` without a source (it `sourceless`); each
    ends with `hint`."""
    problems = []
    for name, text in rendered.items():
        path = out_dir / name
        if not path.exists():
            problems.append(f"{path} is missing; {hint}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path} differs from what {source_of(name)} gives; {hint}")
    if out_dir.is_dir():
        for stale in sorted(out_dir.glob(pattern)):
            if stale.name not in rendered:
                problems.append(f"{stale} {sourceless}; {hint}")
    return problems
