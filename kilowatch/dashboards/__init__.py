"""Grafana dashboards as code: build the JSON from dashboards/*.dashboard.py, check for drift.

Also the pieces a test needs to run a dashboard's queries as Grafana would: the queries in a
dashboard (`queries`), Grafana's time ranges (`timerange`) and macro interpolation (`macros`).
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
