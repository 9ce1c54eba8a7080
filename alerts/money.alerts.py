"""Alerts that save money: a demand peak ahead, the bill over budget, power factor, idle load.

The thresholds that depend on the plant (its billed peak, limit, budget, the tariff's power
factor rule) are worked out by the bridge with the billing core and stored with the points, so
each rule compares a stored number with zero. Labels `plant` (and `charge`, `currency`,
`billing_period`) come from the queries' GROUP BY tags: the notification policy routes on them.
"""

from __future__ import annotations

from kilowatch.alerts.model import Group, Math, Query, Reduce, Rule, Threshold

DEMAND_DASHBOARD = "kw-demand"
# Panels of dashboards/demand_watch.dashboard.py (ids in the order grid() lays them out).
GAUGE_PANEL = 1
BUDGET_PANEL = 4
# A demand_watch point comes after every stored batch; one older than this is a bridge gone.
DEMAND_RANGE_S = 120
BUDGET_RANGE_S = 900
IDLE_FACTOR = 1.25  # idle load this much above the usual base load is waste
IDLE_RANGE_S = 1800  # the load now: the mean of the last 30 minutes
BASE_RANGE_S = 7 * 86_400  # the usual base load: the quietest hours of the last week


def _last(
    ref: str, measurement: str, field: str, range_s: int, group_by: str, where: str = ""
) -> Query:
    """The newest value of a field in the range, per series."""
    return Query(
        ref,
        f'SELECT last("{field}") FROM "{measurement}" WHERE $timeFilter{where} GROUP BY {group_by}',
        range_s,
    )


DEMAND_TAGS = '"plant", "charge", "currency"'
demand_peak_ahead = Rule(
    uid="kw-demand-peak-ahead",
    title="Demand peak ahead",
    steps=(
        _last("OVER", "demand_watch", "over_kw", DEMAND_RANGE_S, DEMAND_TAGS),
        _last("LEFT", "demand_watch", "seconds_left", DEMAND_RANGE_S, DEMAND_TAGS),
        _last("STAKE", "demand_watch", "money_at_stake", DEMAND_RANGE_S, DEMAND_TAGS),
        _last("KW", "demand_watch", "projected_kw", DEMAND_RANGE_S, DEMAND_TAGS),
        # Above the plant's own limit; null where the plant sets none (then NaN, never > 0).
        Query(
            "LIMIT",
            'SELECT last("projected_kw") - last("limit_kw") FROM "demand_watch" '
            f"WHERE $timeFilter GROUP BY {DEMAND_TAGS}",
            DEMAND_RANGE_S,
        ),
        Reduce("over", "OVER"),
        Reduce("left", "LEFT"),
        Reduce("stake", "STAKE"),
        Reduce("kw", "KW"),
        Reduce("overlimit", "LIMIT"),
        # Over the peak with money at stake, or over the plant's limit: a new peak that costs
        # nothing (CFE's load-factor cap billing instead) is no reason to shed load.
        Math("FIRING", "$over > 0 && $left > 0 && ($stake > 0 || $overlimit > 0)"),
    ),
    summary="{{ $labels.plant }}: this window is heading for a new {{ $labels.charge }} peak",
    description=(
        'Projected {{ printf "%.1f" $values.kw.Value }} kW, '
        '{{ printf "%.1f" $values.over.Value }} kW above the billed peak (or the plant\'s '
        'limit), with {{ printf "%.0f" $values.left.Value }} s of the window left. '
        'If it ends like this: {{ printf "%.2f" $values.stake.Value }} {{ $labels.currency }} '
        "more on the bill (this month and, through the ratchet, later months). Shed load now."
    ),
    labels={"kind": "money", "severity": "critical"},
    dashboard_uid=DEMAND_DASHBOARD,
    panel_id=GAUGE_PANEL,
)

BUDGET_TAGS = '"plant", "billing_period", "currency"'
bill_over_budget = Rule(
    uid="kw-bill-over-budget",
    title="Bill over budget",
    steps=(
        _last("OVER", "budget_watch", "over_budget", BUDGET_RANGE_S, BUDGET_TAGS),
        _last("BILL", "budget_watch", "projected_bill", BUDGET_RANGE_S, BUDGET_TAGS),
        _last("BUDGET", "budget_watch", "budget", BUDGET_RANGE_S, BUDGET_TAGS),
        Reduce("over", "OVER"),
        Reduce("bill", "BILL"),
        Reduce("budget", "BUDGET"),
        Threshold("FIRING", "over", "gt", 0),
    ),
    summary="{{ $labels.plant }}: the {{ $labels.billing_period }} bill is heading over budget",
    description=(
        "At the recent run rate the period's bill comes to "
        '{{ printf "%.2f" $values.bill.Value }} {{ $labels.currency }}, '
        '{{ printf "%.2f" $values.over.Value }} over the budget of '
        '{{ printf "%.2f" $values.budget.Value }}.'
    ),
    for_="15m",
    labels={"kind": "money", "severity": "warning"},
    dashboard_uid=DEMAND_DASHBOARD,
    panel_id=BUDGET_PANEL,
)

PF_TAGS = '"plant", "billing_period", "tariff"'
power_factor_penalty = Rule(
    uid="kw-power-factor-penalty",
    title="Power factor penalty",
    steps=(
        _last(
            "ADJ",
            "billing",
            "power_factor_adjustment",
            BUDGET_RANGE_S,
            PF_TAGS,
            " AND \"scope\" = 'plant'",
        ),
        _last("PF", "billing", "power_factor", BUDGET_RANGE_S, PF_TAGS, " AND \"scope\" = 'plant'"),
        Reduce("penalty", "ADJ"),
        Reduce("pf", "PF"),
        Threshold("FIRING", "penalty", "gt", 0),
    ),
    summary="{{ $labels.plant }}: power factor below the tariff's penalty threshold",
    description=(
        "The power factor so far this period ({{ $labels.billing_period }}) is "
        '{{ printf "%.3f" $values.pf.Value }}: the tariff adds '
        '{{ printf "%.2f" $values.penalty.Value }} (before tax) to the bill. '
        "Check the capacitor banks."
    ),
    for_="30m",
    labels={"kind": "money", "severity": "warning"},
)

idle_load = Rule(
    uid="kw-idle-load",
    title="Idle load outside shifts",
    steps=(
        Query(
            "NOW",
            f'SELECT sum("energy_kwh") * {3600 / IDLE_RANGE_S:g} FROM "energy" '
            'WHERE $timeFilter GROUP BY "plant"',
            IDLE_RANGE_S,
        ),
        # kWh per hour is the hour's mean kW; the 10th percentile of a week's hours is the
        # load when nothing is produced (as the drill-down dashboard's base load).
        Query(
            "BASE",
            'SELECT percentile("kwh", 10) FROM (SELECT sum("energy_kwh") AS "kwh" '
            'FROM "energy" WHERE $timeFilter GROUP BY time(1h), "plant" fill(none)) '
            'WHERE $timeFilter GROUP BY "plant"',
            BASE_RANGE_S,
        ),
        Reduce("now", "NOW"),
        Reduce("base", "BASE"),
        Math("FIRING", f"$now > $base * {IDLE_FACTOR}"),
    ),
    summary="{{ $labels.plant }}: load outside shifts above the usual base load",
    description=(
        'The plant draws {{ printf "%.1f" $values.now.Value }} kW; its usual base load is '
        '{{ printf "%.1f" $values.base.Value }} kW. Something was left running. '
        "(The policy sends this only outside the plant's shifts.)"
    ),
    for_="30m",
    labels={"kind": "waste", "severity": "info"},
)

groups = [
    # The demand window closes in minutes: evaluate often (a cheap query of the last 2 min).
    Group("kilowatch-demand", "10s", (demand_peak_ahead,)),
    # Rules held for 15-30 minutes, one reading a week of energy: once a minute is plenty.
    Group("kilowatch-money", "1m", (bill_over_budget, power_factor_penalty, idle_load)),
]
