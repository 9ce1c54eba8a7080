"""Every InfluxQL query in a dashboard's JSON model: panel targets and template variables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_DATA_POINTS = 1000  # Grafana uses the panel's width in pixels when none is set


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One raw InfluxQL target and the panel settings that decide how Grafana runs it."""

    dashboard: str  # uid
    panel: str  # title
    panel_type: str
    ref_id: str
    query: str
    result_format: str
    max_data_points: int
    min_interval: str | None
    time_from: str | None
    time_shift: str | None
    datasource_uid: str | None

    @property
    def where(self) -> str:
        """'dashboard / panel / refId', to name the query in messages."""
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


@dataclass(frozen=True, slots=True)
class VariableQuery:
    """A query-type template variable (its values come from InfluxDB)."""

    dashboard: str
    name: str
    query: str
    datasource_uid: str | None


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those inside (collapsed) rows."""
    for panel in dashboard.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def _uid(datasource: Any) -> str | None:
    return datasource.get("uid") if isinstance(datasource, Mapping) else None


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Every raw InfluxQL target of every panel, in layout order."""
    found = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets") or []:
            if not target.get("rawQuery") or target.get("hide"):
                continue
            found.append(
                PanelQuery(
                    dashboard=dashboard.get("uid") or dashboard.get("title", "?"),
                    panel=panel.get("title") or f"panel {panel.get('id')}",
                    panel_type=panel.get("type", ""),
                    ref_id=target.get("refId", "?"),
                    query=target["query"],
                    result_format=target.get("resultFormat", "time_series"),
                    max_data_points=panel.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS,
                    min_interval=panel.get("interval") or None,
                    time_from=panel.get("timeFrom") or None,
                    time_shift=panel.get("timeShift") or None,
                    datasource_uid=_uid(target.get("datasource") or panel.get("datasource")),
                )
            )
    return found


def variable_queries(dashboard: Mapping[str, Any]) -> list[VariableQuery]:
    """Every query-type template variable."""
    return [
        VariableQuery(
            dashboard=dashboard.get("uid") or dashboard.get("title", "?"),
            name=variable["name"],
            query=variable["query"]
            if isinstance(variable["query"], str)
            else variable["query"].get("query", ""),
            datasource_uid=_uid(variable.get("datasource")),
        )
        for variable in (dashboard.get("templating") or {}).get("list", [])
        if variable.get("type") == "query"
    ]
