"""Energy performance: energy intensity (kWh and cost per unit produced) per line and day, and
the utility's bills reconciled with kilowatch's. Data: `kilowatch etl production` writes the
`production` and `energy_intensity` points, `kilowatch etl bill` the `bill_reconciliation`
points (see docs/etl.md)."""

from __future__ import annotations

from kilowatch.dashboards.blocks import (
    COUNT,
    LINE,
    MONEY,
    PERCENT,
    PLANT,
    TZ,
    dashboard,
    field_override,
    grid,
    influx,
    line_variable,
    organize,
    plant_variables,
    row,
    sort_by,
    stat,
    steps,
    table,
    timeseries,
)

INTENSITY = f'FROM "energy_intensity" WHERE {PLANT} AND {LINE} AND $timeFilter'
RECONCILIATION = f'FROM "bill_reconciliation" WHERE {PLANT} AND $timeFilter'
KWH_PER_UNIT = "kWh/unit"  # Grafana's custom unit: the suffix after the number
FLAG_STEPS = steps("green", (1, "red"))

kwh_per_unit = stat(
    "Energy per unit (kWh/unit)",
    influx(f'SELECT sum("energy_kwh") / sum("units") {INTENSITY}'),
    unit=f"suffix: {KWH_PER_UNIT}",
    decimals=3,
    description="Stored energy of the chosen lines over the units they produced, for the "
    "days of the range that have production (measurement energy_intensity).",
)
cost_per_unit = stat(
    "Cost per unit ($currency/unit)",
    influx(f'SELECT sum("cost") / sum("units") {INTENSITY}'),
    unit=MONEY,
    decimals=3,
    description="What the chosen lines' energy cost, taxes included, per unit produced.",
)
units = stat(
    "Units produced",
    influx(f'SELECT sum("units") FROM "production" WHERE {PLANT} AND {LINE} AND $timeFilter'),
    unit=COUNT,
    description="From the client's production files (measurement production).",
)
flagged = stat(
    "Bill amounts flagged",
    influx(f'SELECT count("utility") {RECONCILIATION} AND "flagged" = true'),
    unit=COUNT,
    thresholds=FLAG_STEPS,
    description="Amounts on the utility's bills that differ from kilowatch's by more than the "
    "threshold (kilowatch etl bill --threshold, default 2 %).",
)
intensity_by_day = timeseries(
    "Energy per unit by line and day (kWh/unit)",
    influx(
        f"""SELECT sum("energy_kwh") / sum("units") {INTENSITY}
        GROUP BY time(1d), "line" fill(none) {TZ}""",
        alias="$tag_line",
    ),
    unit=f"suffix: {KWH_PER_UNIT}",
    decimals=3,
    description="Each line's energy over its production, per local day of the plant.",
)
cost_by_day = timeseries(
    "Cost per unit by line and day ($currency/unit)",
    influx(
        f"""SELECT sum("cost") / sum("units") {INTENSITY}
        GROUP BY time(1d), "line" fill(none) {TZ}""",
        alias="$tag_line",
    ),
    unit=MONEY,
    decimals=3,
)
units_by_day = timeseries(
    "Units produced per day",
    influx(
        f"""SELECT sum("units") FROM "production" WHERE {PLANT} AND {LINE} AND $timeFilter
        GROUP BY time(1d), "line" fill(none) {TZ}""",
        alias="$tag_line",
    ),
    unit=COUNT,
    bars=True,
    stacked=True,
    legend=("sum",),
)
intensity_by_line = table(
    "Intensity by line over the range",
    influx(
        f"""SELECT sum("units") AS "units", sum("energy_kwh") AS "kWh", sum("cost") AS "cost",
        sum("energy_kwh") / sum("units") AS "kWh/unit", sum("cost") / sum("units") AS "cost/unit"
        {INTENSITY} GROUP BY "line"
        """,
        table=True,
    ),
    transformations=[organize(hide=["Time"])],
    sort_by="kWh/unit",
)
reconciliation = table(
    "Utility bills against kilowatch's, per month and component",
    influx(
        f"""SELECT last("utility") AS "utility", last("kilowatch") AS "kilowatch",
        last("difference") AS "difference", last("difference_percent") AS "difference %",
        last("flagged") AS "flagged" {RECONCILIATION} GROUP BY "billing_period", "component"
        """,
        table=True,
    ),
    transformations=[organize(hide=["Time"]), sort_by("billing_period")],
    overrides=[field_override("difference %", unit=PERCENT, decimals=2)],
    description="Amounts in the tariff's currency; energy_kwh in kWh and demand_kw in kW. "
    "difference = kilowatch - utility.",
)
difference_by_month = timeseries(
    "Bill difference by month and component (%)",
    influx(
        f"""SELECT last("difference_percent") {RECONCILIATION}
        GROUP BY time(1d), "component" fill(none)""",
        alias="$tag_component",
    ),
    unit=PERCENT,
    bars=True,
    legend=("max",),
    description="(kilowatch - utility) / utility per billing period, at the period's start.",
)

dashboard = dashboard(
    uid="kw-energy-performance",
    title="Energy performance",
    description="Energy intensity per line and day, and the utility's bills reconciled with "
    "kilowatch's (data loaded by kilowatch etl).",
    time=("now-90d", "now"),
    refresh="",
    variables=[*plant_variables(), line_variable()],
    panels=grid(
        row("Energy intensity"),
        (4, [(kwh_per_unit, 6), (cost_per_unit, 6), (units, 6), (flagged, 6)]),
        (8, [(intensity_by_day, 12), (cost_by_day, 12)]),
        (8, [(units_by_day, 12), (intensity_by_line, 12)]),
        row("Bill reconciliation"),
        (9, [(reconciliation, 14), (difference_by_month, 10)]),
    ),
)
