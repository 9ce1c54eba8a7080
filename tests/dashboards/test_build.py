"""Generating the dashboards' JSON, and the drift check between the Python and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kilowatch.dashboards.build import (
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    DashboardBuildError,
    build_dashboards,
    check_dashboards,
    render_all,
)
from tests.services import REPO_ROOT

SOURCES = REPO_ROOT / DEFAULT_SRC_DIR
PROVISIONED = REPO_ROOT / DEFAULT_OUT_DIR

# A minimal dashboard folder: a shared module and one dashboard using it.
SHARED = 'TITLE = "{title}"\n'
SOURCE = """
from grafanalib.core import Dashboard
from shared import TITLE

dashboard = Dashboard(title=TITLE, uid="t1")
"""


def make_sources(folder: Path, title: str = "Tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shared.py").write_text(SHARED.format(title=title))
    (folder / "tiny.dashboard.py").write_text(SOURCE)
    return folder


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


def test_each_build_loads_its_own_shared_module(tmp_path: Path) -> None:
    first = render_all(make_sources(tmp_path / "a", title="First"))
    second = render_all(make_sources(tmp_path / "b", title="Second"))
    assert json.loads(first["tiny.json"])["title"] == "First"
    assert json.loads(second["tiny.json"])["title"] == "Second"


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
