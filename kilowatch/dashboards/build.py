"""Generate Grafana JSON from `*.dashboard.py` files, and find generated JSON that has drifted.

Each `NAME.dashboard.py` defines a module-level grafanalib `dashboard`; its JSON goes to
`OUT_DIR/NAME.json`, keys sorted and indented by 2 so that diffs are readable: the bytes
grafanalib's own `generate-dashboard -o OUT NAME.dashboard.py` writes. Sources import what they
share from `kilowatch.dashboards.blocks`, so they load the same way from anywhere. The output
folder belongs to the generator: JSON files in it without a source are removed by a build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder

from kilowatch.generated import drift, load_source, write_generated

SUFFIX = ".dashboard.py"
DEFAULT_SRC_DIR = Path("dashboards")
DEFAULT_OUT_DIR = Path("provisioning/grafana/dashboards/kilowatch")
REBUILD_HINT = "run `kilowatch dashboards build` and commit the JSON"


class DashboardBuildError(Exception):
    """A dashboard source cannot be loaded or rendered; the message names the file."""


def sources(src_dir: Path) -> list[Path]:
    """The `*.dashboard.py` files of a folder, sorted by name."""
    if not src_dir.is_dir():
        raise DashboardBuildError(f"dashboard folder {src_dir} does not exist")
    found = sorted(src_dir.glob(f"*{SUFFIX}"))
    if not found:
        raise DashboardBuildError(f"no *{SUFFIX} files in {src_dir}")
    return found


def output_name(source: Path) -> str:
    """`overview.dashboard.py` -> `overview.json`."""
    return source.name[: -len(SUFFIX)] + ".json"


def load(source: Path) -> Any:
    """The `dashboard` object a source defines, with panel ids filled in."""
    module = load_source(source, f"_kilowatch_dashboard_{source.stem}", DashboardBuildError)
    dashboard = getattr(module, "dashboard", None)
    if dashboard is None or not hasattr(dashboard, "to_json_data"):
        raise DashboardBuildError(f"{source} must define a grafanalib Dashboard named `dashboard`")
    return dashboard.auto_panel_ids() if hasattr(dashboard, "auto_panel_ids") else dashboard


def render(dashboard: Any) -> str:
    """A dashboard's JSON text: sorted keys, indent 2, a final newline (as grafanalib writes it)."""
    try:
        text = json.dumps(dashboard.to_json_data(), sort_keys=True, indent=2, cls=DashboardEncoder)
    except (TypeError, ValueError) as err:
        raise DashboardBuildError(f"dashboard {dashboard.title!r} is not JSON: {err}") from err
    return text + "\n"


def render_all(src_dir: Path) -> dict[str, str]:
    """Output file name -> JSON text, for every source in the folder."""
    rendered: dict[str, str] = {}
    for source in sources(src_dir):
        rendered[output_name(source)] = render(load(source))
    return rendered


def build_dashboards(src_dir: Path | str, out_dir: Path | str) -> list[Path]:
    """Write every dashboard's JSON into out_dir (files that did not change are left alone)."""
    return write_generated(render_all(Path(src_dir)), Path(out_dir), "*.json")


def check_dashboards(src_dir: Path | str, out_dir: Path | str) -> list[str]:
    """Sentences naming each generated file that is missing, different or without a source."""
    src = Path(src_dir)
    return drift(
        render_all(src),
        Path(out_dir),
        "*.json",
        source_of=lambda name: f"{src / name.removesuffix('.json')}{SUFFIX}",
        hint=REBUILD_HINT,
        sourceless=f"has no {SUFFIX} source",
    )
