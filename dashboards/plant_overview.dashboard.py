"""Plant overview: what the plant spends today and this month, where the money goes, and why."""

from __future__ import annotations

from kilowatch.dashboards.blocks import (
    KW,
    KWH,
    MONEY,
    NONE,
    PF_LIMIT,
    PLANT,
    TZ,
    bar_chart,
    bill_stats,
    collapsed_row,
    dashboard,
    donut,
    drilldown_link,
    field_override,
    grid,
    influx,
    limit,
    organize,
    period_colors,
    plant_variables,
    row,
    sort_by,
    stat,
    steps,
    table,
    timeseries,
)

# Each day of the plant's calendar (tz) over the last two days: the last bucket is "today".
TODAY = "GROUP BY time(1d) fill(0) " + TZ


def plant_sum(field: str) -> str:
    return f'SELECT sum("{field}") FROM "energy" WHERE {PLANT} AND $timeFilter'


energy_today = stat(
    "Energy today",
    influx(f"{plant_sum('energy_kwh')} {TODAY}"),
    unit=KWH,
    calc="last",
    time_from="2d",
    description="kWh since midnight in the plant's time zone.",
)
cost_today = stat(
    "Cost today ($currency)",
    influx(f"{plant_sum('cost')} {TODAY}"),
    unit=MONEY,
    decimals=2,
    calc="last",
    time_from="2d",
    description="Energy cost since midnight in the plant's time zone, taxes included.",
)
power_now = stat(
    "Power now",
    influx(
        f"""SELECT sum("kw") FROM (SELECT last("power_kw") AS "kw" FROM "energy"
        WHERE {PLANT} AND $timeFilter GROUP BY "meter")"""
    ),
    unit=KW,
    time_from="15m",
    description="Sum of every meter's latest active power (meters silent for 15 minutes left out).",
)
energy_month = stat(
    "Energy this month",
    influx(plant_sum("energy_kwh")),
    unit=KWH,
    calc="sum",
    time_from="now/M",
)
bill_month = stat(
    "Energy bill so far ($currency)",
    influx(plant_sum("cost")),
    unit=MONEY,
    decimals=2,
    calc="sum",
    time_from="now/M",
    description="Energy charges from the 1st of the month until now, taxes included. Demand and "
    "power-factor charges appear under Billing.",
)
bill_last_month_same_days = stat(
    "Last month, same days ($currency)",
    influx(plant_sum("cost")),
    unit=MONEY,
    decimals=2,
    calc="sum",
    time_from="now/M",
    time_shift="1M",
    description="Energy charges from the 1st of last month to the same day and hour: compare "
    "with the bill so far.",
)
bill_last_month = stat(
    "Last month, whole ($currency)",
    influx(plant_sum("cost")),
    unit=MONEY,
    decimals=2,
    calc="sum",
    time_from="now/M",
    time_shift="1M/M",
)
demand_peak = stat(
    "Demand peak this month",
    influx(
        f"""SELECT sum("energy_kwh") * 4 FROM "energy" WHERE {PLANT} AND $timeFilter
        GROUP BY time(15m) fill(none)"""
    ),
    unit=KW,
    calc="max",
    time_from="now/M",
    description="Highest 15-minute average power this month (kWh in 15 minutes x 4), what "
    "demand charges are billed on.",
)
power_factor = stat(
    "Power factor this month",
    influx(
        f"""SELECT sum("energy_kwh") / SQRT(POW(sum("energy_kwh"), 2)
        + POW(sum("reactive_kvarh"), 2)) FROM "energy" WHERE {PLANT} AND $timeFilter"""
    ),
    unit=NONE,
    decimals=3,
    time_from="now/M",
    thresholds=steps("red", (PF_LIMIT, "orange"), (0.95, "green")),
    description=f"kWh / kVAh over the month. Below {PF_LIMIT} utilities commonly charge a "
    "penalty; above it some pay a bonus.",
)

cost_by_period = donut(
    "Cost by time-of-use period ($currency)",
    influx(f'{plant_sum("cost")} GROUP BY "period"', alias="$tag_period"),
    unit=MONEY,
    description="Over the selected time range (this month by default).",
)
daily_cost = timeseries(
    "Daily cost by period ($currency)",
    influx(f'{plant_sum("cost")} GROUP BY time(1d), "period" fill(0) {TZ}', alias="$tag_period"),
    unit=MONEY,
    bars=True,
    stacked=True,
    legend=("sum",),
    overrides=period_colors(),
)
top_meters = table(
    "Top 10 meters by cost ($currency)",
    influx(
        f"""SELECT sum("cost") AS "cost", sum("energy_kwh") AS "energy" FROM "energy"
        WHERE {PLANT} AND $timeFilter GROUP BY "line", "meter" """,
        table=True,
    ),
    transformations=[organize(hide=("Time",)), sort_by("cost"), limit(10)],
    overrides=[
        field_override(
            "cost",
            unit=MONEY,
            decimals=2,
            custom__cellOptions={"type": "gauge", "mode": "basic"},
        ),
        field_override("energy", unit=KWH),
        field_override(
            "meter",
            links=[
                drilldown_link(
                    "Drill down to ${__data.fields.meter}",
                    plant="$plant",
                    line="${__data.fields.line}",
                    meter="${__data.fields.meter}",
                )
            ],
        ),
    ],
    sort_by="cost",
)
cost_per_line = bar_chart(
    "Cost per line ($currency)",
    influx(
        f'SELECT sum("cost") AS "cost" FROM "energy" WHERE {PLANT} AND $timeFilter GROUP BY "line"',
        table=True,
    ),
    x_field="line",
    unit=MONEY,
)
plant_load = timeseries(
    "Plant load (average kW per interval)",
    influx(
        f"""SELECT sum("energy_kwh") * 3600000 / $__interval_ms FROM "energy"
        WHERE {PLANT} AND $timeFilter GROUP BY time($__interval)""",
        alias="load",
    ),
    unit=KW,
    min_interval="15m",
)

bill = bill_stats(time_from="now/M")

dashboard = dashboard(
    uid="kw-overview",
    title="Plant overview",
    description="Energy and cost of one plant: today, this month against last month, demand, "
    "power factor, and where the money goes by period, meter and line.",
    variables=plant_variables(),
    time=("now/M", "now"),
    refresh="30s",
    panels=grid(
        row("Today and this month"),
        (
            4,
            [
                (power_now, 4),
                (energy_today, 4),
                (cost_today, 4),
                (energy_month, 4),
                (demand_peak, 4),
                (power_factor, 4),
            ],
        ),
        (4, [(bill_month, 8), (bill_last_month_same_days, 8), (bill_last_month, 8)]),
        row("Where the money goes (time range above; this month by default)"),
        (9, [(cost_by_period, 8), (daily_cost, 16)]),
        (10, [(top_meters, 12), (cost_per_line, 12)]),
        (8, [(plant_load, 24)]),
        collapsed_row(
            "Billing: demand and power-factor charges",
            (4, [(bill["total"], 8), (bill["demand"], 8), (bill["power_factor"], 8)]),
        ),
    ),
)
