"""Alerts that keep the data flowing: meters and agents gone quiet, backlogs, rejections."""

from __future__ import annotations

from kilowatch.alerts.model import Group, Math, Query, Reduce, Rule, Threshold

# No reading in the last 20 minutes, for 5 minutes in a row: four 5-minute intervals, or two
# 15-minute ones (utility-grade meters, CFE's), up to 10 minutes late. A shorter window fires
# between two readings of a 15-minute meter, every quarter of an hour.
SILENT_MINUTES = 20
SILENT_FOR_MINUTES = 5
AGENT_SILENT_MINUTES = 5  # five status reports (one a minute, the agent's default)
SEEN_RANGE_S = 86_400  # meters and agents known: those heard of in the last day
BACKLOG_RANGE_S = 1800
REJECTED_RANGE_S = 600
REJECTED_MAX = 10  # rejected readings per 10 minutes

meter_silent = Rule(
    uid="kw-meter-silent",
    title="Meter silent",
    steps=(
        # Readings per minute, averaged over the last SILENT_MINUTES minutes: 0 means none came.
        # A meter must have sent something in the last day to have a series at all.
        Query(
            "READINGS",
            f'SELECT moving_average(count("energy_kwh"), {SILENT_MINUTES}) FROM "energy" '
            'WHERE $timeFilter GROUP BY time(1m), "plant", "line", "meter" fill(0)',
            SEEN_RANGE_S,
        ),
        Reduce("rate", "READINGS"),
        Threshold("FIRING", "rate", "lt", 1e-9),
    ),
    summary="{{ $labels.plant }}/{{ $labels.meter }}: no reading for "
    f"{SILENT_MINUTES + SILENT_FOR_MINUTES} minutes",
    description=(
        "Meter {{ $labels.meter }} on line {{ $labels.line }} of plant {{ $labels.plant }} "
        f"has sent no reading for {SILENT_MINUTES + SILENT_FOR_MINUTES} minutes. Its energy "
        "is missing from the bill so far and the demand projection. Check the meter, its "
        "wiring and the edge agent."
    ),
    for_=f"{SILENT_FOR_MINUTES}m",
    labels={"kind": "pipeline", "severity": "warning"},
)

agent_silent = Rule(
    uid="kw-agent-silent",
    title="Agent silent",
    steps=(
        Query(
            "STATUS",
            f'SELECT moving_average(count("uptime_s"), {AGENT_SILENT_MINUTES}) '
            'FROM "agent_status" WHERE $timeFilter GROUP BY time(1m), "plant", "agent" fill(0)',
            SEEN_RANGE_S,
        ),
        Reduce("rate", "STATUS"),
        Threshold("FIRING", "rate", "lt", 1e-9),
    ),
    summary="{{ $labels.plant }}: edge agent {{ $labels.agent }} has stopped reporting",
    description=(
        f"No status report from agent {{{{ $labels.agent }}}} for {AGENT_SILENT_MINUTES} "
        "minutes: the agent, its network or the broker is down. Its meters' readings wait "
        "in its outbox."
    ),
    labels={"kind": "pipeline", "severity": "critical"},
)

backlog_growing = Rule(
    uid="kw-agent-backlog-growing",
    title="Agent backlog growing",
    steps=(
        Query(
            "GROWTH",
            'SELECT last("backlog_readings") - first("backlog_readings") FROM "agent_status" '
            'WHERE $timeFilter GROUP BY "plant", "agent"',
            BACKLOG_RANGE_S,
        ),
        Query(
            "LOWEST",
            'SELECT min("backlog_readings") FROM "agent_status" '
            'WHERE $timeFilter GROUP BY "plant", "agent"',
            BACKLOG_RANGE_S,
        ),
        Reduce("growth", "GROWTH"),
        Reduce("lowest", "LOWEST"),
        # Growing, and never drained in the last half hour.
        Math("FIRING", "$growth > 0 && $lowest > 0"),
    ),
    summary="{{ $labels.plant }}: agent {{ $labels.agent }}'s backlog is growing",
    description=(
        'The agent\'s outbox grew by {{ printf "%.0f" $values.growth.Value }} readings in '
        '30 minutes (never below {{ printf "%.0f" $values.lowest.Value }}): it cannot '
        "deliver as fast as it reads. Check the broker and the bridge."
    ),
    for_="10m",
    labels={"kind": "pipeline", "severity": "warning"},
)

rejected_readings = Rule(
    uid="kw-rejected-readings",
    title="Rejected readings",
    steps=(
        Query(
            "REJECTED",
            'SELECT sum("count") FROM "rejected" WHERE $timeFilter GROUP BY "plant", "reason"',
            REJECTED_RANGE_S,
        ),
        Reduce("count", "REJECTED", "sum"),
        Threshold("FIRING", "count", "gt", REJECTED_MAX),
    ),
    summary="{{ $labels.plant }}: readings rejected ({{ $labels.reason }})",
    description=(
        '{{ printf "%.0f" $values.count.Value }} readings were set aside in 10 minutes '
        f"(more than {REJECTED_MAX}), reason {{{{ $labels.reason }}}}. The pipeline-health "
        "dashboard shows their payloads."
    ),
    labels={"kind": "pipeline", "severity": "warning"},
)

groups = [
    Group(
        "kilowatch-pipeline",
        "1m",
        (meter_silent, agent_silent, backlog_growing, rejected_readings),
    )
]
