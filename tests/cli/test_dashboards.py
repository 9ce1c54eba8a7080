"""`kilowatch dashboards build` and `check` (the typer sub-app the main CLI mounts)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kilowatch.cli.dashboards import app as dashboards_app

SOURCE = """
from grafanalib.core import Dashboard

dashboard = Dashboard(title="Tiny", uid="t1")
"""
runner = CliRunner()


def test_build_then_check(tmp_path: Path) -> None:
    (tmp_path / "tiny.dashboard.py").write_text(SOURCE)
    out = tmp_path / "out"
    args = ["--src", str(tmp_path), "--out", str(out)]
    built = runner.invoke(dashboards_app, ["build", *args])
    assert built.exit_code == 0, built.output
    assert f"wrote {out / 'tiny.json'}" in built.output
    assert runner.invoke(dashboards_app, ["check", *args]).exit_code == 0


def test_check_fails_on_drift(tmp_path: Path) -> None:
    (tmp_path / "tiny.dashboard.py").write_text(SOURCE)
    out = tmp_path / "out"
    out.mkdir()
    (out / "tiny.json").write_text("{}\n")
    result = runner.invoke(dashboards_app, ["check", "--src", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 1
    assert "differs" in result.output


def test_a_bad_source_is_an_error_line_and_status_2(tmp_path: Path) -> None:
    (tmp_path / "bad.dashboard.py").write_text("raise ValueError('oops')\n")
    result = runner.invoke(
        dashboards_app, ["build", "--src", str(tmp_path), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "error: " in result.output and "oops" in result.output
