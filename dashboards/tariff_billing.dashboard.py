"""Tariff and billing: the rate in force, energy by period, demand and power factor."""

from __future__ import annotations

from kilowatch.dashboards.blocks import (
    FROM_NOW,
    KW,
    KWH,
    MONEY,
    NONE,
    PF_LIMIT,
    PLANT,
    TZ,
    bill_stats,
    billing_query,
    collapsed_row,
    dashboard,
    donut,
    field_override,
    grid,
    influx,
    organize,
    period_colors,
    period_mappings,
    plant_variables,
    row,
    sort_by,
    stat,
    steps,
    table,
    timeseries,
)

PF_QUERY = f"""SELECT sum("energy_kwh") / SQRT(POW(sum("energy_kwh"), 2)
    + POW(sum("reactive_kvarh"), 2)) FROM "energy" WHERE {PLANT} AND $timeFilter"""
DEMAND_15M = f"""SELECT sum("energy_kwh") * 4 AS "kw" FROM "energy" WHERE {PLANT} AND $timeFilter
    GROUP BY time(15m)"""


def plant_info(field: str, scale: str = "") -> str:
    """The tariff's next change, from the bridge's `plant_info` points."""
    return f'SELECT last("{field}"){scale} FROM "plant_info" WHERE {PLANT} AND $timeFilter'


period_now = stat(
    "Period now",
    influx(
        f'SELECT last("rate") AS "rate", "period" FROM "energy" WHERE {PLANT} AND $timeFilter',
        table=True,
    ),
    unit=NONE,
    fields="/^period$/",
    time_from="30m",
    mappings=period_mappings(),
    description="Time-of-use period of the newest reading.",
)
rate_now = stat(
    "Rate now ($currency/kWh)",
    influx(f'SELECT last("rate") FROM "energy" WHERE {PLANT} AND $timeFilter'),
    unit=MONEY,
    decimals=4,
    time_from="30m",
    description="Effective price of the newest reading's energy, taxes included.",
)
average_price = stat(
    "Average price this period ($currency/kWh)",
    influx(f'SELECT sum("cost") / sum("energy_kwh") FROM "energy" WHERE {PLANT} AND $timeFilter'),
    unit=MONEY,
    decimals=4,
)
schedule = timeseries(
    "Rate in force, last 7 days ($currency/kWh)",
    influx(
        f"""SELECT max("rate") FROM "energy" WHERE {PLANT} AND $timeFilter
        GROUP BY time($__interval), "period" fill(none)""",
        alias="$tag_period",
    ),
    unit=MONEY,
    decimals=4,
    bars=True,
    min_interval="30m",
    legend=(),
    time_from="7d",
    overrides=period_colors(),
    description="The tariff's schedule as it was billed: the same hour yesterday shows the "
    "change coming next.",
)

by_period = table(
    "Energy and cost by period",
    influx(
        f"""SELECT sum("energy_kwh") AS "energy", sum("cost") AS "cost",
        sum("cost") / sum("energy_kwh") AS "price" FROM "energy"
        WHERE {PLANT} AND $timeFilter GROUP BY "period" """,
        table=True,
    ),
    transformations=[organize(hide=("Time",)), sort_by("cost")],
    overrides=[
        field_override("energy", unit=KWH, custom__cellOptions={"type": "gauge", "mode": "basic"}),
        field_override("cost", unit=MONEY, decimals=2, displayName="cost ($currency)"),
        field_override("price", unit=MONEY, decimals=4, displayName="price ($currency/kWh)"),
    ],
    description="Tiered (block) rates are not in kilowatch's tariffs yet; each period has one "
    "rate.",
)
energy_by_period = donut(
    "Energy by period",
    influx(
        f'SELECT sum("energy_kwh") FROM "energy" WHERE {PLANT} AND $timeFilter GROUP BY "period"',
        alias="$tag_period",
    ),
    unit=KWH,
)

demand_profile = timeseries(
    "Demand profile (15-minute average kW)",
    influx(f"{DEMAND_15M} fill(none)", alias="demand"),
    unit=KW,
    legend=("max", "mean"),
    step=True,
    description="kWh in each quarter hour x 4: the demand a utility meter registers.",
)
peak_by_period = stat(
    "Peak 15-minute demand by period",
    influx(
        f"""SELECT max("kw") FROM ({DEMAND_15M}, "period" fill(none))
        WHERE $timeFilter GROUP BY "period" """,
        alias="$tag_period",
    ),
    unit=KW,
    description="Some tariffs bill the peak of one period (e.g. punta) only.",
)
top_intervals = table(
    "Highest demand intervals",
    influx(f'SELECT top("kw", 5) AS "kW" FROM ({DEMAND_15M} fill(none))', table=True),
    transformations=[sort_by("kW")],
    overrides=[field_override("kW", unit=KW), field_override("Time", displayName="quarter hour")],
)

pf_to_date = stat(
    "Power factor this period",
    influx(PF_QUERY),
    unit=NONE,
    decimals=3,
    thresholds=steps("red", (PF_LIMIT, "orange"), (0.95, "green")),
    description=f"kWh / kVAh. Below {PF_LIMIT}: penalty; above: bonus (CFE's rule).",
)
pf_daily = timeseries(
    "Power factor per day",
    influx(f"{PF_QUERY} GROUP BY time(1d) {TZ}", alias="power factor"),
    unit=NONE,
    decimals=3,
    bars=True,
    legend=("min", "mean"),
    thresholds=steps("red", (PF_LIMIT, "transparent")),
    threshold_style="line",
)

next_change = stat(
    "Next rate change",
    influx(plant_info("next_change_ts", " * 1000")),
    unit=FROM_NOW,
    time_from="1h",
)
next_rate = stat(
    "Next rate ($currency/kWh)",
    influx(plant_info("next_rate")),
    unit=MONEY,
    decimals=4,
    time_from="1h",
)
bill = bill_stats()
tier = stat(
    "Tier reached (block tariffs)",
    influx(billing_query("tier")),
    unit=NONE,
    description="The block of the tiered energy rates the period's kWh has reached so far.",
)

dashboard = dashboard(
    uid="kw-tariff",
    title="Tariff and billing",
    description="The rate in force and its schedule, energy and cost by time-of-use period, the "
    "15-minute demand that demand charges are billed on, and the power factor.",
    variables=plant_variables(),
    time=("now/M", "now"),
    refresh="1m",
    panels=grid(
        row("Now"),
        (6, [(period_now, 4), (rate_now, 4), (average_price, 4), (schedule, 12)]),
        row("Energy by period (time range above; this month by default)"),
        (8, [(by_period, 14), (energy_by_period, 10)]),
        row("Demand"),
        (8, [(demand_profile, 14), (peak_by_period, 4), (top_intervals, 6)]),
        row("Power factor"),
        (7, [(pf_to_date, 6), (pf_daily, 18)]),
        collapsed_row(
            "Billing: next change, tier, demand and power-factor charges",
            (
                4,
                [
                    (next_change, 4),
                    (next_rate, 4),
                    (tier, 4),
                    (bill["demand"], 4),
                    (bill["power_factor"], 4),
                    (bill["total"], 4),
                ],
            ),
        ),
    ),
)
