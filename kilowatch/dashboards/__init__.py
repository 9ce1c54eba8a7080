"""Grafana dashboards as code: the shared panels (`blocks`), the build and drift check, the push.

`dashboards/NAME.dashboard.py` files import `kilowatch.dashboards.blocks`; `build` turns them into
the provisioned JSON; `push` sends that JSON to a running Grafana over its HTTP API.
"""

from kilowatch.dashboards.build import (
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    DashboardBuildError,
    build_dashboards,
    check_dashboards,
)

__all__ = [
    "DEFAULT_OUT_DIR",
    "DEFAULT_SRC_DIR",
    "DashboardBuildError",
    "build_dashboards",
    "check_dashboards",
]
