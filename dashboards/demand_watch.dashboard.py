"""Demand watch: the open 15-minute window projected to its end against the billed peak, the
money it puts at stake, the bill against the budget, and the plant's active alerts."""

from __future__ import annotations

from typing import Any

import grafanalib.core as g

from kilowatch.dashboards.blocks import (
    DATASOURCE,
    KW,
    MONEY,
    PLANT,
    SECONDS,
    dashboard,
    grid,
    influx,
    plant_variables,
    query_variable,
    raw_panel,
    stat,
    steps,
    timeseries,
)

CHARGE = '"charge" =~ /^$charge$/'
WATCH = f'FROM "demand_watch" WHERE {PLANT} AND {CHARGE} AND $timeFilter'
LATEST = "5m"  # a demand_watch point comes after every stored batch; older is a bridge gone


def latest(field: str, scale: str = "") -> str:
    return f'SELECT last("{field}"){scale} {WATCH}'


def gauge() -> Any:
    """Projected kW of the open window; the red mark is the peak it must stay under (the
    threshold comes from the data: the billed peak, or the plant's limit if lower)."""
    return raw_panel(
        "gauge",
        title="$charge: projected window vs billed peak",
        description="The open demand window's mean kW if every meter keeps its latest power. "
        "Red from the period's billed peak (or the plant's demand limit): a new peak.",
        dataSource=DATASOURCE,
        targets=[
            influx(latest("projected_kw"), "A", alias="projected"),
            influx(latest("threshold_kw"), "B", alias="peak"),
            influx(latest("threshold_kw", " * 1.5"), "C", alias="max"),
        ],
        repeat=g.Repeat("h", "charge", maxPerRow=4),
        timeFrom=LATEST,
        hideTimeOverride=True,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showThresholdMarkers": True,
            "showThresholdLabels": True,
        },
        defaults={
            "unit": KW,
            "min": 0,
            "decimals": 0,
            "color": {"mode": "thresholds"},
            "thresholds": {"mode": "absolute", "steps": steps("green", (1e12, "red"))},
        },
        transformations=[
            {
                "id": "configFromData",
                "options": {
                    "configRefId": "B",
                    "mappings": [{"fieldName": "peak", "handlerKey": "threshold1"}],
                    "applyTo": {"id": "byFrameRefID", "options": "A"},
                },
            },
            {
                "id": "configFromData",
                "options": {
                    "configRefId": "C",
                    "mappings": [{"fieldName": "max", "handlerKey": "max"}],
                    "applyTo": {"id": "byFrameRefID", "options": "A"},
                },
            },
        ],
    )


def charge_variable() -> dict[str, Any]:
    """The plant's demand charges (every one shown)."""
    return query_variable(
        "charge",
        "Demand charge",
        f'SHOW TAG VALUES FROM "demand_watch" WITH KEY = "charge" WHERE {PLANT}',
        multi=True,
    )


at_stake = stat(
    "Money at stake if the window ends as projected ($currency)",
    influx(f'SELECT last("money_at_stake") {WATCH} GROUP BY "charge"', alias="$tag_charge"),
    unit=MONEY,
    decimals=2,
    time_from=LATEST,
    thresholds=steps("green", (0.01, "red")),
    description="This period's demand charge and, through a ratchet, later periods', with "
    "taxes: what the bill gains if the open window ends at its projected demand.",
)
time_left = stat(
    "Time left in the window",
    influx(latest("seconds_left")),
    unit=SECONDS,
    time_from=LATEST,
)
BUDGET = f'FROM "budget_watch" WHERE {PLANT} AND $timeFilter'
budget = stat(
    "Projected bill against the budget ($currency)",
    influx(f'SELECT last("projected_bill") {BUDGET}', "A", alias="projected bill"),
    influx(f'SELECT last("budget") {BUDGET}', "B", alias="budget"),
    influx(f'SELECT last("bill_so_far") {BUDGET}', "C", alias="so far"),
    unit=MONEY,
    decimals=0,
    time_from="1h",
    description="The bill so far plus the rest of the period at the last week's rate, priced "
    "by the tariff (tiers, demand, fixed charges, power factor, taxes).",
)
history = timeseries(
    "Projected window demand and the peak to stay under",
    influx(
        f'SELECT max("projected_kw") {WATCH} GROUP BY time($__interval), "charge" fill(none)',
        "A",
        alias="$tag_charge projected",
    ),
    influx(
        f'SELECT last("threshold_kw") {WATCH} GROUP BY time($__interval), "charge" fill(none)',
        "B",
        alias="$tag_charge peak",
    ),
    unit=KW,
    step=True,
    min_interval="1m",
    legend=("max",),
)
alerts = raw_panel(
    "alertlist",
    title="Active alerts for $plant",
    description="Firing and pending kilowatch alerts whose instances carry this plant's label.",
    options={
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 20,
        "sortOrder": 1,
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": '{plant="$plant"}',
        "showInstances": True,
        "folder": None,
        "datasource": "grafana",
        "stateFilter": {
            "firing": True,
            "pending": True,
            "noData": False,
            "normal": False,
            "error": True,
        },
    },
)

dashboard = dashboard(
    uid="kw-demand",
    title="Demand watch",
    description="Before the 15-minute window closes: is it heading for a new demand peak, what "
    "would it cost, is the bill on budget, and which alerts are active for the plant.",
    time=("now-6h", "now"),
    refresh="10s",
    variables=[*plant_variables(), charge_variable()],
    panels=grid(
        (8, [(gauge(), 24)]),
        (5, [(at_stake, 10), (time_left, 4), (budget, 10)]),
        (9, [(history, 14), (alerts, 10)]),
    ),
)
