"""Line / machine drill-down: load, energy and cost of the chosen meters, and how they run."""

from __future__ import annotations

from kilowatch.dashboards.blocks import (
    AMPERE,
    KW,
    KWH,
    LINE,
    METER,
    MONEY,
    NONE,
    PF_LIMIT,
    PLANT,
    TZ,
    VOLT,
    dashboard,
    grid,
    heatmap_by_hour,
    influx,
    line_variable,
    meter_variable,
    period_colors,
    plant_variables,
    row,
    stat,
    steps,
    timeseries,
)

CHOSEN = f"{PLANT} AND {LINE} AND {METER}"


def chosen_sum(field: str) -> str:
    return f'SELECT sum("{field}") FROM "energy" WHERE {CHOSEN} AND $timeFilter'


QUIETEST_HOURS = 3  # a day's base load: the mean of its quietest hours


def hourly_kwh(time_filter: str, fill: str) -> str:
    """kWh of the chosen meters in each hour of the plant's clock (= average kW in the hour)."""
    return f"""SELECT sum("energy_kwh") AS "kwh" FROM "energy" WHERE {CHOSEN} AND {time_filter}
        GROUP BY time(1h) fill({fill}) {TZ}"""


def hour_of_day(hour: int) -> str:
    """Each day's kWh in hour `hour` (plant time), stamped at the day's midnight.

    Hourly kWh (every hour present: fill 0) -> the first hour of each day-long window that
    starts at `hour` -> that value moved to its day. The hourly series starts a day before the
    range so that every window inside the range starts on a whole hour of data.
    """
    hours = hourly_kwh("time >= ${__from}ms - 1d AND time <= ${__to}ms", "0")
    at_hour = f"""SELECT first("kwh") AS "kwh" FROM ({hours})
        GROUP BY time(1d, {hour}h) fill(none) {TZ}"""
    return f'SELECT first("kwh") FROM ({at_hour}) GROUP BY time(1d) fill(none) {TZ}'


def per_phase_mean(quantity: str) -> str:
    """Mean of `{quantity}_l1`..`_l3` per meter, the columns named L1..L3."""
    columns = ", ".join(f'mean("{quantity}_l{n}") AS "L{n}"' for n in (1, 2, 3))
    return f"""SELECT {columns} FROM "energy" WHERE {CHOSEN} AND $timeFilter
        GROUP BY time($__interval), "meter" """


energy = stat("Energy", influx(chosen_sum("energy_kwh")), unit=KWH, calc="sum")
cost = stat("Cost ($currency)", influx(chosen_sum("cost")), unit=MONEY, decimals=2, calc="sum")
price = stat(
    "Average price ($currency/kWh)",
    influx(
        f"""SELECT sum("cost") / sum("energy_kwh") FROM "energy"
        WHERE {CHOSEN} AND $timeFilter"""
    ),
    unit=MONEY,
    decimals=4,
    description="Cost / energy: low when the load runs in cheap periods.",
)
peak = stat(
    "Peak 15-minute demand",
    influx(
        f"""SELECT sum("energy_kwh") * 4 FROM "energy" WHERE {CHOSEN} AND $timeFilter
        GROUP BY time(15m) fill(none)"""
    ),
    unit=KW,
    calc="max",
)
power_factor = stat(
    "Power factor",
    influx(
        f"""SELECT sum("energy_kwh") / SQRT(POW(sum("energy_kwh"), 2)
        + POW(sum("reactive_kvarh"), 2)) FROM "energy" WHERE {CHOSEN} AND $timeFilter"""
    ),
    unit=NONE,
    decimals=3,
    thresholds=steps("red", (PF_LIMIT, "orange"), (0.95, "green")),
)
base_load_now = stat(
    "Base load (lowest hours)",
    influx(f'SELECT percentile("kwh", 10) FROM ({hourly_kwh("$timeFilter", "none")})'),
    unit=KW,
    description="10th percentile of the hourly average load over the range: what the chosen "
    "meters draw when nothing is produced (nights, weekends, breaks).",
)

power = timeseries(
    "Load by meter (average kW)",
    influx(
        f"""SELECT sum("energy_kwh") * 3600000 / $__interval_ms FROM "energy"
        WHERE {CHOSEN} AND $timeFilter GROUP BY time($__interval), "meter" """,
        alias="$tag_meter",
    ),
    unit=KW,
    min_interval="5m",
    description="Energy per interval turned into average kW, so it works with or without "
    "power_kw in the readings.",
)
energy_by_meter = timeseries(
    "Energy by meter",
    influx(
        f'{chosen_sum("energy_kwh")} GROUP BY time($__interval), "meter" fill(0)',
        alias="$tag_meter",
    ),
    unit=KWH,
    bars=True,
    stacked=True,
    min_interval="1h",
    legend=("sum",),
)
cost_by_period = timeseries(
    "Cost by time-of-use period ($currency)",
    influx(
        f'{chosen_sum("cost")} GROUP BY time($__interval), "period" fill(0)',
        alias="$tag_period",
    ),
    unit=MONEY,
    decimals=2,
    bars=True,
    stacked=True,
    min_interval="1h",
    legend=("sum",),
    overrides=period_colors(),
)
heatmap = heatmap_by_hour(
    "Load by hour of day (kWh in the hour = average kW)",
    hour_of_day,
    unit=KWH,
    description="One column per day, one row per hour of the plant's clock: shifts, breaks, "
    "weekends and machines left running at night stand out.",
)
base_load = timeseries(
    "Idle (base) load outside shifts",
    influx(
        # Not percentile(): where a day holds too few hours for it (the range's first day, in
        # the evening), InfluxDB returns nothing at all, not only nothing for that day.
        f"""SELECT mean("kwh") FROM (SELECT bottom("kwh", {QUIETEST_HOURS}) AS "kwh"
        FROM ({hourly_kwh("$timeFilter", "none")}) WHERE $timeFilter GROUP BY time(1d) {TZ})
        WHERE $timeFilter GROUP BY time(1d) fill(none) {TZ}""",
        "A",
        alias=f"base load ({QUIETEST_HOURS} quietest hours)",
    ),
    influx(
        f"""SELECT mean("kwh") FROM ({hourly_kwh("$timeFilter", "none")})
        WHERE $timeFilter GROUP BY time(1d) fill(none) {TZ}""",
        "B",
        alias="average load",
    ),
    unit=KW,
    step=True,
    description=f"Per day: the mean load of the {QUIETEST_HOURS} quietest hours (outside shifts) "
    "against the average. A base load creeping up means equipment left running.",
)
pf_by_meter = timeseries(
    "Power factor by meter",
    influx(
        f"""SELECT mean("power_factor") FROM "energy" WHERE {CHOSEN} AND $timeFilter
        GROUP BY time($__interval), "meter" """,
        alias="$tag_meter",
    ),
    unit=NONE,
    decimals=3,
    min_interval="5m",
    legend=("mean", "min"),
    thresholds=steps("red", (PF_LIMIT, "transparent")),
    threshold_style="line+area",
)
voltage = timeseries(
    "Voltage per phase",
    influx(per_phase_mean("voltage"), alias="$tag_meter $col"),
    unit=VOLT,
    min_interval="5m",
    legend=("mean", "min", "max"),
)
current = timeseries(
    "Current per phase",
    influx(per_phase_mean("current"), alias="$tag_meter $col"),
    unit=AMPERE,
    min_interval="5m",
    legend=("mean", "max"),
)

dashboard = dashboard(
    uid="kw-drilldown",
    title="Line and machine drill-down",
    description="Choose a plant, lines and meters: their load, energy and cost over time, when "
    "in the day they run, their idle load, and the quality of their supply.",
    variables=[*plant_variables(), line_variable(), meter_variable()],
    time=("now-7d", "now"),
    refresh="5m",
    panels=grid(
        row("Totals for the chosen meters"),
        (4, [(energy, 4), (cost, 4), (price, 4), (peak, 4), (base_load_now, 4), (power_factor, 4)]),
        row("Power, energy and cost over time"),
        (8, [(power, 24)]),
        (8, [(energy_by_meter, 12), (cost_by_period, 12)]),
        row("When the load happens"),
        (10, [(heatmap, 16), (base_load, 8)]),
        row("Supply quality"),
        (8, [(pf_by_meter, 8), (voltage, 8), (current, 8)]),
    ),
)
