"""Generating the dashboards' JSON, and the drift check between the Python and the JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kilowatch.dashboards.build import (
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    DashboardBuildError,
    build_dashboards,
    check_dashboards,
    output_name,
    render_all,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = REPO_ROOT / DEFAULT_SRC_DIR
PROVISIONED = REPO_ROOT / DEFAULT_OUT_DIR
DASHBOARD_FILES = sorted(SOURCES.glob("*.dashboard.py"))

# A minimal dashboard folder: one dashboard using the shared blocks as the real ones do.
SOURCE = """
from grafanalib.core import Dashboard
from kilowatch.dashboards.blocks import TAGS

dashboard = Dashboard(title="{title}", uid="t1", tags=TAGS)
"""


def make_sources(folder: Path, title: str = "Tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.dashboard.py").write_text(SOURCE.format(title=title))
    return folder


def generate_dashboard() -> str:
    """grafanalib's own generator, the console script installed beside this Python."""
    found = shutil.which("generate-dashboard", path=str(Path(sys.executable).parent))
    assert found, "grafanalib's generate-dashboard script is not installed"
    return found


def test_committed_json_is_what_the_python_generates() -> None:
    assert check_dashboards(SOURCES, PROVISIONED) == []


def test_every_source_has_its_json_and_every_json_its_source() -> None:
    sources = {p.name.removesuffix(".dashboard.py") for p in SOURCES.glob("*.dashboard.py")}
    generated = {p.stem for p in PROVISIONED.glob("*.json")}
    assert sources == generated
    assert len(sources) >= 5  # home and the four dashboards of the issue


def test_json_is_sorted_indented_and_stable() -> None:
    first, second = render_all(SOURCES), render_all(SOURCES)
    assert first == second
    for text in first.values():
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_build_writes_one_file_per_source_and_removes_stale_ones(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "removed.json").write_text("{}")
    written = build_dashboards(src, out)
    assert [p.name for p in written] == ["tiny.json"]
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json"]
    assert json.loads((out / "tiny.json").read_text())["title"] == "Tiny"
    assert check_dashboards(src, out) == []


def test_check_names_changed_missing_and_stale_files(tmp_path: Path) -> None:
    src = make_sources(tmp_path / "src")
    out = tmp_path / "out"
    build_dashboards(src, out)
    (out / "tiny.json").write_text((out / "tiny.json").read_text().replace("Tiny", "Edited"))
    (out / "orphan.json").write_text("{}")
    problems = check_dashboards(src, out)
    assert any("tiny.json differs" in p for p in problems)
    assert any("orphan.json has no" in p for p in problems)
    (out / "tiny.json").unlink()
    assert any("tiny.json is missing" in p for p in check_dashboards(src, out))


def test_each_build_loads_the_source_afresh(tmp_path: Path) -> None:
    first = render_all(make_sources(tmp_path, title="First"))
    second = render_all(make_sources(tmp_path, title="Second"))
    assert json.loads(first["tiny.json"])["title"] == "First"
    assert json.loads(second["tiny.json"])["title"] == "Second"


@pytest.mark.parametrize("source", DASHBOARD_FILES, ids=lambda p: p.name)
def test_grafanalib_generate_dashboard_writes_the_committed_json(
    source: Path, tmp_path: Path
) -> None:
    """grafanalib's `generate-dashboard -o OUT FILE`, run elsewhere, writes the committed bytes."""
    out = tmp_path / "out.json"
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    result = subprocess.run(
        [generate_dashboard(), "-o", str(out), str(source)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (PROVISIONED / output_name(source)).read_bytes()


def test_a_source_without_dashboard_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty.dashboard.py").write_text("x = 1\n")
    with pytest.raises(DashboardBuildError, match=r"empty\.dashboard\.py must define"):
        render_all(tmp_path)


def test_a_failing_source_is_named_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.dashboard.py").write_text("import no_such_module\n")
    with pytest.raises(DashboardBuildError, match=r"broken\.dashboard\.py failed: .*no_such"):
        render_all(tmp_path)


def test_a_folder_without_sources_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DashboardBuildError, match=r"no \*\.dashboard\.py files"):
        render_all(tmp_path)
    with pytest.raises(DashboardBuildError, match="does not exist"):
        render_all(tmp_path / "missing")
