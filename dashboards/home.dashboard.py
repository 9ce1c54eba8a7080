"""Home: what kilowatch shows, links to every dashboard, and whether data is flowing."""

from __future__ import annotations

from kilowatch.dashboards.blocks import (
    COUNT,
    KW,
    SECONDS,
    dashboard,
    dashboard_list,
    grid,
    influx,
    stat,
    steps,
    text,
    timeseries,
)

WELCOME = """
### kilowatch: electricity use and cost, meter by meter

Every reading from every meter is costed from its plant's tariff (time-of-use periods, seasons,
holidays, taxes) when it arrives. Pick a dashboard:

- **Plant overview**: what the plant spends today and this month, against last month; demand
  peak, power factor; cost by period, by meter and by line.
- **Line and machine drill-down**: load, energy and cost of chosen lines and meters; when in the
  day they run (heat map); idle load outside shifts; power factor, voltage and current.
- **Tariff and billing**: the rate in force and the schedule, energy and cost by period, the
  15-minute demand profile and its peak, power factor.
- **Pipeline health**: readings per minute, rejected messages and why, bridge lag, edge agents,
  missing 5-minute slots per meter.

The links at the top of every dashboard keep the plant and the time range.
"""


def reporting(tag: str) -> str:
    """How many plants (or meters) sent a reading in the time range."""
    return f"""SELECT count("e") FROM (SELECT last("energy_kwh") AS "e" FROM "energy"
        WHERE $timeFilter GROUP BY "{tag}")"""


plants = stat("Plants reporting (15 min)", influx(reporting("plant")), unit=COUNT, time_from="15m")
meters = stat("Meters reporting (15 min)", influx(reporting("meter")), unit=COUNT, time_from="15m")
freshness = stat(
    "Newest reading's age",
    influx('SELECT last("reading_age_s") FROM "kilowatch_bridge" WHERE $timeFilter'),
    unit=SECONDS,
    time_from="5m",
    thresholds=steps("green", (120, "orange"), (600, "red")),
)
rejected = stat(
    "Rejected, last hour",
    influx('SELECT sum("count") FROM "rejected" WHERE $timeFilter'),
    unit=COUNT,
    calc="sum",
    time_from="1h",
    thresholds=steps("green", (1, "orange")),
)
load = timeseries(
    "Load by plant (average kW)",
    influx(
        """SELECT sum("energy_kwh") * 3600000 / $__interval_ms FROM "energy" WHERE $timeFilter
        GROUP BY time($__interval), "plant" """,
        alias="$tag_plant",
    ),
    unit=KW,
    min_interval="15m",
)

dashboard = dashboard(
    uid="kw-home",
    title="kilowatch",
    description="Start here: what each dashboard answers, and whether readings are arriving.",
    time=("now-24h", "now"),
    refresh="1m",
    panels=grid(
        (10, [(text("", WELCOME), 14), (dashboard_list("Dashboards"), 10)]),
        (4, [(plants, 6), (meters, 6), (freshness, 6), (rejected, 6)]),
        (8, [(load, 24)]),
    ),
)
