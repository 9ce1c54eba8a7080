"""The generated dashboards as a whole: datasource, variables, units, time bounds, links, layout."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kilowatch.dashboards.build import DEFAULT_OUT_DIR
from tests.support.grafana.macros import Variable, interpolate
from tests.support.grafana.queries import iter_panels, panel_queries, variable_queries
from tests.support.grafana.timerange import TimeRange

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = {
    path.stem: json.loads(path.read_text()) for path in (REPO_ROOT / DEFAULT_OUT_DIR).glob("*.json")
}
DATASOURCE_UID = "kilowatch-influxdb"
NO_DATA_PANELS = {"row", "text", "dashlist", "alertlist"}
# Where each kind of number must be shown with its unit.
UNIT_OF_FIELD = {'sum("energy_kwh") FROM': "kwatth", 'sum("cost") FROM': "locale"}
ISSUE_DASHBOARDS = {"kw-overview", "kw-drilldown", "kw-tariff", "kw-pipeline"}


def panels(dashboard: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(iter_panels(dashboard))


def all_panels() -> list[tuple[str, Mapping[str, Any]]]:
    return [(d["uid"], p) for d in DASHBOARDS.values() for p in panels(d)]


def test_the_issue_dashboards_and_home_exist() -> None:
    uids = {d["uid"] for d in DASHBOARDS.values()}
    assert ISSUE_DASHBOARDS | {"kw-home"} <= uids
    assert len(uids) == len(DASHBOARDS)  # unique


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_settings(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert dashboard["timezone"] == "browser"
    assert "kilowatch" in dashboard["tags"]
    link = dashboard["links"][0]
    assert link["type"] == "dashboards" and link["includeVars"] and link["keepTime"]
    assert dashboard["description"]


def test_every_query_uses_the_provisioned_datasource() -> None:
    for uid, panel in all_panels():
        if panel["type"] in NO_DATA_PANELS:
            continue
        assert panel["datasource"]["uid"] == DATASOURCE_UID, f"{uid} / {panel['title']}"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
    for dashboard in DASHBOARDS.values():
        for variable in variable_queries(dashboard):
            assert variable.datasource_uid == DATASOURCE_UID


def test_every_data_panel_has_a_query_and_a_title() -> None:
    for uid, panel in all_panels():
        if panel["type"] not in NO_DATA_PANELS:
            assert panel["targets"], f"{uid} / {panel['title']} has no query"
        if panel["type"] != "text":
            assert panel["title"], f"{uid}: panel {panel['id']} has no title"


def test_queries_only_use_defined_variables() -> None:
    time_range = TimeRange(0, 86_400_000)
    for dashboard in DASHBOARDS.values():
        names = [v["name"] for v in dashboard["templating"]["list"]]
        defined = [Variable(n, ("x",)) for n in names]
        for query in panel_queries(dashboard):
            interpolate(query.query, time_range=time_range, interval=1000, variables=defined)
        for variable in variable_queries(dashboard):
            earlier = defined[: names.index(variable.name)]  # chained: plant -> line -> meter
            interpolate(variable.query, time_range=time_range, interval=1000, variables=earlier)


def test_every_query_is_bounded_in_time() -> None:
    for dashboard in DASHBOARDS.values():
        for query in panel_queries(dashboard):
            assert "$timeFilter" in query.query or "${__from}" in query.query, query.where


def test_money_panels_name_the_currency_and_energy_panels_use_kwh() -> None:
    for uid, panel in all_panels():
        for target in panel.get("targets", []):
            for pattern, unit in UNIT_OF_FIELD.items():
                if target["query"].startswith(f"SELECT {pattern}"):
                    assert panel["fieldConfig"]["defaults"]["unit"] == unit, panel["title"]
                    if unit == "locale":
                        assert "$currency" in panel["title"], f"{uid} / {panel['title']}"


def test_plant_dashboards_have_the_plant_chain_of_variables() -> None:
    variables = {
        d["uid"]: [v["name"] for v in d["templating"]["list"]] for d in DASHBOARDS.values()
    }
    assert variables["kw-drilldown"][:1] == ["plant"]
    assert {"line", "meter", "tz", "currency"} <= set(variables["kw-drilldown"])
    drilldown = {v["name"]: v for v in DASHBOARDS["drilldown"]["templating"]["list"]}
    assert drilldown["line"]["multi"] and drilldown["meter"]["multi"]
    assert "$plant" in drilldown["line"]["query"] and "$line" in drilldown["meter"]["query"]


def test_data_links_point_to_existing_dashboards_and_keep_the_time() -> None:
    uids = {d["uid"] for d in DASHBOARDS.values()}
    text = json.dumps(DASHBOARDS)
    targets = re.findall(r"/d/([\w-]+)/[^\"]*", text)
    assert targets, "expected links to the drill-down"
    assert set(targets) <= uids
    assert all("__url_time_range" in link for link in re.findall(r"/d/[\w-]+/[^\"]*", text))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels(DASHBOARDS[name]):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_panel_ids_are_unique() -> None:
    for dashboard in DASHBOARDS.values():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids))
