"""Finding every query in a dashboard's JSON model."""

from __future__ import annotations

from tests.support.grafana.queries import (
    DEFAULT_MAX_DATA_POINTS,
    iter_panels,
    panel_queries,
    variable_queries,
)

DS = {"type": "influxdb", "uid": "ds"}
DASHBOARD = {
    "uid": "d1",
    "panels": [
        {
            "id": 1,
            "type": "stat",
            "title": "Today",
            "timeFrom": "2d",
            "interval": "5m",
            "datasource": DS,
            "targets": [
                {"refId": "A", "rawQuery": True, "query": "SELECT 1", "datasource": DS},
                {"refId": "B", "rawQuery": True, "query": "SELECT 2", "hide": True},
                {"refId": "C", "rawQuery": False, "measurement": "energy"},
            ],
        },
        {
            "id": 2,
            "type": "row",
            "title": "Closed",
            "collapsed": True,
            "panels": [
                {
                    "id": 3,
                    "type": "table",
                    "title": "Inside",
                    "maxDataPoints": 50,
                    "datasource": DS,
                    "targets": [
                        {
                            "refId": "A",
                            "rawQuery": True,
                            "query": "SELECT 3",
                            "resultFormat": "table",
                        }
                    ],
                }
            ],
        },
    ],
    "templating": {
        "list": [
            {"name": "plant", "type": "query", "query": "SHOW TAG VALUES", "datasource": DS},
            {"name": "zone", "type": "textbox", "query": "UTC"},
        ]
    },
}


def test_panels_inside_collapsed_rows_are_found() -> None:
    assert [p["id"] for p in iter_panels(DASHBOARD)] == [1, 2, 3]


def test_only_visible_raw_queries_with_their_panel_settings() -> None:
    today, inside = panel_queries(DASHBOARD)
    assert (today.query, today.time_from, today.min_interval) == ("SELECT 1", "2d", "5m")
    assert today.max_data_points == DEFAULT_MAX_DATA_POINTS
    assert today.datasource_uid == "ds" and today.where == "d1 / Today / A"
    assert (inside.query, inside.result_format, inside.max_data_points) == ("SELECT 3", "table", 50)
    assert inside.datasource_uid == "ds"  # the panel's, when the target names none


def test_only_query_variables() -> None:
    (plant,) = variable_queries(DASHBOARD)
    assert (plant.name, plant.query, plant.datasource_uid) == ("plant", "SHOW TAG VALUES", "ds")
