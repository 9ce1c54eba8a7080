"""Building blocks shared by kilowatch's dashboards: datasource, units, variables, panels, layout.

Every `dashboards/*.dashboard.py` imports from here (`from kilowatch.dashboards.blocks import
...`), so a colour, a unit or a filter is defined once and the files load from anywhere, as
grafanalib's `generate-dashboard` loads them. Queries are raw InfluxQL on the measurements of
docs/influxdb-schema.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attr
from grafanalib import core as g

DATASOURCE = {"type": "influxdb", "uid": "kilowatch-influxdb"}
TAGS = ["kilowatch"]
SCHEMA_VERSION = 39  # Grafana 11: the panel JSON below is written in its current form

# Units (Grafana unit ids). Money has no fixed currency: plants bill in their tariff's currency,
# which panel titles name through the $currency variable, so amounts use the locale format.
KWH = g.KWATTHOUR_FORMAT
KW = g.KWATT_FORMAT
VOLT = g.VOLT_FORMAT
AMPERE = "amp"
MONEY = "locale"
PERCENT = g.PERCENT_FORMAT
SECONDS = g.SECONDS_FORMAT
COUNT = g.SHORT_FORMAT
PER_MINUTE = "cpm"
FROM_NOW = "dateTimeFromNow"
NONE = g.NONE_FORMAT

# Filters: single and multi-value variables alike render as regex alternations in InfluxQL.
PLANT = '"plant" =~ /^$plant$/'
ACCOUNT = "\"scope\" = 'plant'"  # a `billing` point of the plant's bill, not one meter's
LINE = '"line" =~ /^$line$/'
METER = '"meter" =~ /^$meter$/'
TZ = "tz('$tz')"  # plant-local days and hours, from the plant_info point

# Power factor below which utilities commonly penalise (CFE: 0.90); bonus above it.
PF_LIMIT = 0.9
# Colours of common time-of-use period names; other periods get the palette.
PERIOD_COLORS = {
    "base": "green",
    "off_peak": "green",
    "offpeak": "green",
    "intermedia": "yellow",
    "mid_peak": "yellow",
    "shoulder": "yellow",
    "punta": "red",
    "peak": "red",
}


@attr.s
class RawPanel(g.Panel):
    """A panel in Grafana 11's JSON for types grafanalib 0.7 lacks or writes in pre-8 form."""

    panel_type: str = attr.ib(default="")
    options: dict[str, Any] = attr.ib(factory=dict)
    defaults: dict[str, Any] = attr.ib(factory=dict)
    overrides: list[dict[str, Any]] = attr.ib(factory=list)

    def to_json_data(self) -> dict[str, Any]:
        return self.panel_json(
            {
                "type": self.panel_type,
                "options": self.options,
                "fieldConfig": {"defaults": self.defaults, "overrides": self.overrides},
            }
        )


def raw_panel(panel_type: str, **fields: Any) -> RawPanel:
    """A RawPanel; mypy sees only RawPanel's own fields through grafanalib's untyped Panel."""
    return RawPanel(panel_type=panel_type, **fields)


def influx(query: str, ref_id: str = "A", *, alias: str = "", table: bool = False) -> dict:
    """A raw InfluxQL target; whitespace is collapsed so queries can be written over lines."""
    return {
        "alias": alias,
        "datasource": DATASOURCE,
        "query": " ".join(query.split()),
        "rawQuery": True,
        "refId": ref_id,
        "resultFormat": "table" if table else "time_series",
    }


def steps(base: str, *levels: tuple[float, str]) -> list[dict[str, Any]]:
    """Threshold steps: `base` colour, then (value, colour) upwards."""
    return [{"color": base, "value": None}, *({"color": c, "value": v} for v, c in levels)]


def period_colors() -> list[dict[str, Any]]:
    """Field overrides giving each known time-of-use period its colour wherever it appears."""
    return [
        {
            "matcher": {"id": "byName", "options": period},
            "properties": [{"id": "color", "value": {"fixedColor": color, "mode": "fixed"}}],
        }
        for period, color in PERIOD_COLORS.items()
    ]


def period_mappings() -> list[dict[str, Any]]:
    """Value mappings colouring a period's name (for panels that show it as text)."""
    options = {
        name: {"color": color, "index": index}
        for index, (name, color) in enumerate(PERIOD_COLORS.items())
    }
    return [{"type": "value", "options": options}]


def field_override(name: str, **properties: Any) -> dict[str, Any]:
    """An override of one field's properties (e.g. unit="kwatth", displayName="Energy")."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key.replace("__", "."), "value": v} for key, v in properties.items()],
    }


def stat(
    title: str,
    *targets: dict,
    unit: str,
    calc: str = "lastNotNull",
    description: str = "",
    decimals: int | None = None,
    thresholds: list[dict[str, Any]] | None = None,
    time_from: str | None = None,
    time_shift: str | None = None,
    fields: str = "",
    mappings: Sequence[dict[str, Any]] = (),
) -> g.Stat:
    """One number (per series) reduced by `calc`; coloured by thresholds when given."""
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=list(targets),
        format=unit,
        decimals=decimals,
        reduceCalc=calc,
        fields=fields,
        graphMode="none",
        colorMode="value",
        color={"mode": "thresholds"} if thresholds else {"mode": "fixed", "fixedColor": "text"},
        thresholds=thresholds or steps("text"),
        textMode="value_and_name" if len(targets) > 1 else "auto",
        noValue="No data",
        timeFrom=time_from,
        timeShift=time_shift,
        hideTimeOverride=time_from is not None,
        mappings=list(mappings),
        maxDataPoints=1000,
    )


def timeseries(
    title: str,
    *targets: dict,
    unit: str,
    description: str = "",
    bars: bool = False,
    stacked: bool = False,
    step: bool = False,
    min_interval: str | None = None,
    decimals: int | None = None,
    thresholds: list[dict[str, Any]] | None = None,
    threshold_style: str = "off",
    legend: Sequence[str] = ("mean", "max"),
    overrides: Sequence[dict[str, Any]] = (),
    time_from: str | None = None,
) -> g.TimeSeries:
    """A time series panel: lines, or bars (stacked) for amounts per interval."""
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=list(targets),
        unit=unit,
        valueDecimals=decimals,
        drawStyle="bars" if bars else "line",
        lineInterpolation="stepAfter" if step else "smooth",
        fillOpacity=80 if bars else 10,
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none"},
        showPoints="never",
        spanNulls=False,
        legendDisplayMode="table" if legend else "list",
        legendPlacement="bottom",
        legendCalcs=list(legend),
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=thresholds or steps("green"),
        thresholdsStyleMode=threshold_style,
        overrides=list(overrides),
        interval=min_interval,
        maxDataPoints=600,
        timeFrom=time_from,
    )


def table(
    title: str,
    *targets: dict,
    unit: str = NONE,
    description: str = "",
    transformations: Sequence[dict[str, Any]] = (),
    overrides: Sequence[dict[str, Any]] = (),
    sort_by: str | None = None,
) -> g.Table:
    """Rows of an InfluxQL `table` result, sorted by a column (display name), descending."""
    return g.Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=list(targets),
        unit=unit,
        filterable=True,
        transformations=list(transformations),
        overrides=list(overrides),
        sortBy=[g.TableSortByField(displayName=sort_by, desc=True)] if sort_by else [],
        thresholds=steps("green"),
        maxDataPoints=1000,
    )


def donut(title: str, *targets: dict, unit: str, description: str = "") -> g.PieChartv2:
    """Shares of a whole (e.g. cost by time-of-use period), with values and percentages."""
    return g.PieChartv2(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=list(targets),
        unit=unit,
        pieType="donut",
        legendDisplayMode="table",
        legendPlacement="right",
        legendValues=["value", "percent"],
        reduceOptionsCalcs=["sum"],
        overrides=period_colors(),
        tooltipMode="single",
        thresholds=steps("green"),
        maxDataPoints=1000,
    )


def bar_chart(
    title: str, target: dict, *, x_field: str, unit: str, description: str = ""
) -> g.BarChart:
    """Bars for categories (lines, periods) from one `table` query; its time column is hidden."""
    return g.BarChart(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target],
        showValue="always",
        transformations=[organize(hide=("Time",))],
        overrides=period_colors(),
        extraJson={"options": {"xField": x_field}, "fieldConfig": {"defaults": {"unit": unit}}},
        maxDataPoints=1000,
    )


def heatmap_by_hour(
    title: str, query_for_hour: Callable[[int], str], *, unit: str, description: str = ""
) -> RawPanel:
    """Hour of day (rows) x day (columns): 24 queries, query_for_hour(h) giving each day's h."""
    ref_ids = [chr(ord("A") + h) for h in range(24)]
    return raw_panel(
        "heatmap",
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[influx(query_for_hour(h), ref, alias=f"{h:02d}") for h, ref in enumerate(ref_ids)],
        options={
            "calculate": False,
            "cellGap": 1,
            "cellValues": {"unit": unit, "decimals": 1},
            "color": {
                "mode": "scheme",
                "scheme": "Oranges",
                "scale": "exponential",
                "exponent": 0.5,
                "steps": 64,
                "reverse": False,
            },
            "legend": {"show": True},
            "rowsFrame": {"layout": "unknown", "value": "energy"},
            "showValue": "never",
            "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": True},
            "yAxis": {"axisPlacement": "left", "axisLabel": "hour of day", "reverse": True},
        },
        defaults={"unit": unit},
        thresholds=steps("green"),
        maxDataPoints=1000,
    )


def status_history(
    title: str,
    target: dict,
    *,
    unit: str,
    thresholds: list[dict[str, Any]],
    description: str = "",
    min_interval: str | None = None,
    mappings: Sequence[dict[str, Any]] = (),
) -> RawPanel:
    """One row per series, one cell per interval, each cell coloured by thresholds."""
    return raw_panel(
        "status-history",
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[target],
        options={
            "colWidth": 0.9,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "rowHeight": 0.9,
            "showValue": "never",
            "tooltip": {"mode": "single", "sort": "none"},
        },
        defaults={
            "color": {"mode": "thresholds"},
            "custom": {"fillOpacity": 80, "lineWidth": 1},
            "mappings": list(mappings),
            "thresholds": {"mode": "absolute", "steps": thresholds},
            "unit": unit,
        },
        interval=min_interval,
        maxDataPoints=200,
    )


def text(title: str, markdown: str) -> g.Text:
    """A markdown note."""
    return g.Text(
        title=title, content=markdown.strip(), mode=g.TEXT_MODE_MARKDOWN, transparent=True
    )


def dashboard_list(title: str) -> RawPanel:
    """Links to every kilowatch dashboard, keeping the time range and variables."""
    return raw_panel(
        "dashlist",
        title=title,
        options={
            "includeVars": True,
            "keepTime": True,
            "maxItems": 20,
            "query": "",
            "showHeadings": False,
            "showRecentlyViewed": False,
            "showSearch": True,
            "showStarred": False,
            "tags": TAGS,
        },
    )


# Layout.

WIDTH = 24  # Grafana's grid columns
Line = tuple[int, Sequence[tuple[g.Panel, int]]]


def grid(*items: g.RowPanel | Line) -> list[g.Panel]:
    """Place panels: each item is a section row, or (height, [(panel, width), ...]) wrapping."""
    placed: list[g.Panel] = []
    y = 0
    for item in items:
        if isinstance(item, g.RowPanel):
            inner = [  # a collapsed row keeps its panels, positioned as if it were open
                attr.evolve(p, gridPos=attr.evolve(p.gridPos, y=p.gridPos.y + y + 1))
                for p in item.panels
            ]
            gridpos = g.GridPos(h=1, w=WIDTH, x=0, y=y)
            placed.append(attr.evolve(item, gridPos=gridpos, panels=inner))
            y += 1
            continue
        height, panels = item
        x = 0
        for panel, width in panels:
            if x + width > WIDTH:
                x, y = 0, y + height
            placed.append(attr.evolve(panel, gridPos=g.GridPos(h=height, w=width, x=x, y=y)))
            x += width
        y += height
    return placed


def row(title: str) -> g.RowPanel:
    """A section header."""
    return g.RowPanel(title=title)


def collapsed_row(title: str, *lines: Line) -> g.RowPanel:
    """A section that opens on a click: for panels whose data not every installation has."""
    return g.RowPanel(title=title, collapsed=True, panels=grid(*lines))


# Transformations (Grafana ids and options).


def organize(hide: Sequence[str] = (), rename: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": "organize",
        "options": {
            "excludeByName": dict.fromkeys(hide, True),
            "renameByName": rename or {},
            "indexByName": {},
        },
    }


def sort_by(field: str, *, desc: bool = True) -> dict[str, Any]:
    return {"id": "sortBy", "options": {"sort": [{"field": field, "desc": desc}]}}


def limit(rows: int) -> dict[str, Any]:
    return {"id": "limit", "options": {"limitField": rows}}


# Template variables (Grafana 11 JSON).


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    multi: bool = False,
    hide: int = 0,
) -> dict[str, Any]:
    query = " ".join(query.split())
    return {
        "allValue": ".*" if multi else None,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if multi else {},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": hide,
        "includeAll": multi,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def plant_variable(*, multi: bool = False) -> dict[str, Any]:
    return query_variable(
        "plant", "Plant", 'SHOW TAG VALUES FROM "energy" WITH KEY = "plant"', multi=multi
    )


def line_variable() -> dict[str, Any]:
    return query_variable(
        "line",
        "Line",
        f'SHOW TAG VALUES FROM "energy" WITH KEY = "line" WHERE {PLANT}',
        multi=True,
    )


def meter_variable() -> dict[str, Any]:
    return query_variable(
        "meter",
        "Meter",
        f'SHOW TAG VALUES FROM "energy" WITH KEY = "meter" WHERE {PLANT} AND {LINE}',
        multi=True,
    )


def timezone_variable() -> dict[str, Any]:
    """The plant's IANA time zone, from the `plant_info` point the bridge writes."""
    return query_variable(
        "tz",
        "Plant time zone",
        f'SHOW TAG VALUES FROM "plant_info" WITH KEY = "timezone" WHERE {PLANT}',
    )


def currency_variable() -> dict[str, Any]:
    """The plant tariff's currency, from the `plant_info` point the bridge writes."""
    return query_variable(
        "currency",
        "Currency",
        f'SHOW TAG VALUES FROM "plant_info" WITH KEY = "currency" WHERE {PLANT}',
        hide=2,
    )


def plant_variables() -> list[dict[str, Any]]:
    """Plant (one), its time zone and currency."""
    return [plant_variable(), timezone_variable(), currency_variable()]


# Links.

DASHBOARD_LINKS = [
    g.DashboardLink(
        title="kilowatch",
        type="dashboards",
        tags=TAGS,
        asDropdown=True,
        includeVars=True,
        keepTime=True,
    )
]


def drilldown_link(title: str, **variables: str) -> dict[str, Any]:
    """A data link to the line / machine drill-down, with these variables and the time range."""
    query = "&".join(f"var-{name}={value}" for name, value in variables.items())
    return {"title": title, "url": f"/d/kw-drilldown/drill-down?{query}&${{__url_time_range}}"}


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    panels: list[g.Panel],
    variables: Sequence[dict[str, Any]] = (),
    time: tuple[str, str] = ("now-24h", "now"),
    refresh: str = "1m",
) -> g.Dashboard:
    """A kilowatch dashboard: browser time zone, shared crosshair, links to the others."""
    return g.Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=TAGS,
        timezone="browser",
        time=g.Time(*time),
        refresh=refresh,
        schemaVersion=SCHEMA_VERSION,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        links=DASHBOARD_LINKS,
        templating=g.Templating(list=list(variables)),
        panels=panels,
    ).auto_panel_ids()


# The plant's running bill, from the bridge's `billing` points (shared by two dashboards).


def billing_query(field: str) -> str:
    """The latest value of one field of the plant's bill so far."""
    return f'SELECT last("{field}") FROM "billing" WHERE {PLANT} AND {ACCOUNT} AND $timeFilter'


def bill_stats(time_from: str | None = None) -> dict[str, g.Stat]:
    """Bill to date, demand charge and power-factor adjustment of the plant's running bill."""
    money: dict[str, Any] = {"unit": MONEY, "decimals": 2, "time_from": time_from}
    return {
        "total": stat(
            "Bill to date, all charges ($currency)",
            influx(billing_query("total")),
            description="The running bill: energy, demand, power factor, fixed charges, taxes.",
            **money,
        ),
        "demand": stat(
            "Demand charge so far ($currency)",
            influx(billing_query("demand_charge")),
            description="The billing period's demand peak (ratchets applied) times its rate.",
            **money,
        ),
        "power_factor": stat(
            "Power-factor penalty (+) / bonus (-) ($currency)",
            influx(billing_query("power_factor_adjustment")),
            thresholds=steps("green", (0.01, "red")),
            **money,
        ),
    }
