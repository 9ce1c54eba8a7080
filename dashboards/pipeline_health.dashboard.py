"""Pipeline health: readings flowing, readings set aside, bridge lag, agents, data completeness."""

from __future__ import annotations

from kilowatch.dashboards.blocks import (
    COUNT,
    PER_MINUTE,
    PERCENT,
    PLANT,
    SECONDS,
    dashboard,
    field_override,
    grid,
    influx,
    organize,
    plant_variable,
    row,
    sort_by,
    stat,
    status_history,
    steps,
    table,
    timeseries,
)

SLOT_S = 300  # readings are expected in every 5-minute slot
BRIDGE = '"kilowatch_bridge"'
DURATION = "dtdurations"
# Per-slot reading counts of each meter; a slot without readings is absent (fill none).
SLOTS = f"""SELECT count("energy_kwh") AS "n" FROM "energy" WHERE {PLANT} AND $timeFilter
    GROUP BY time({SLOT_S}s), "plant", "meter" fill(none)"""
FRESHNESS = steps("green", (120, "orange"), (600, "red"))
RECEIPT_WAIT = steps("green", (300, "orange"), (1800, "red"))  # receipt_timeout_s is 300
ONLINE = [
    {"type": "value", "options": {"0": {"text": "offline", "color": "red", "index": 0}}},
    {
        "type": "range",
        "options": {
            "from": 1,
            "to": None,
            "result": {"text": "online", "color": "green", "index": 1},
        },
    },
]

stored_hour = stat(
    "Readings stored, last hour",
    influx(f'SELECT sum("readings_written") FROM {BRIDGE} WHERE $timeFilter'),
    unit=COUNT,
    calc="sum",
    time_from="1h",
)
rejected_hour = stat(
    "Rejected, last hour",
    influx('SELECT sum("count") FROM "rejected" WHERE $timeFilter'),
    unit=COUNT,
    calc="sum",
    time_from="1h",
    thresholds=steps("green", (1, "orange")),
)
freshness = stat(
    "Newest reading's age",
    influx(f'SELECT last("reading_age_s") FROM {BRIDGE} WHERE $timeFilter'),
    unit=SECONDS,
    time_from="5m",
    thresholds=FRESHNESS,
    description="How old the newest stored reading is: grows when meters, agents or the bridge "
    "stop.",
)
lag_max = stat(
    "Worst bridge lag, last hour",
    influx(f'SELECT max("lag_s") FROM {BRIDGE} WHERE $timeFilter'),
    unit=SECONDS,
    time_from="1h",
    thresholds=steps("green", (5, "orange"), (60, "red")),
    description="Longest wait of a message between arrival and storage.",
)
retries_hour = stat(
    "InfluxDB write retries, last hour",
    influx(f'SELECT sum("retries") FROM {BRIDGE} WHERE $timeFilter'),
    unit=COUNT,
    calc="sum",
    time_from="1h",
    thresholds=steps("green", (1, "orange"), (10, "red")),
)
queue_now = stat(
    "Bridge queue",
    influx(f'SELECT last("queue_depth") FROM {BRIDGE} WHERE $timeFilter'),
    unit=COUNT,
    time_from="5m",
    thresholds=steps("green", (1000, "orange"), (10000, "red")),
    description="Messages received and not yet stored.",
)

per_minute = timeseries(
    "Readings per minute",
    influx(
        f"""SELECT sum("readings_written") * 60000 / $__interval_ms FROM {BRIDGE}
        WHERE $timeFilter GROUP BY time($__interval) fill(0)""",
        "A",
        alias="stored",
    ),
    influx(
        f"""SELECT sum("rejected") * 60000 / $__interval_ms FROM {BRIDGE}
        WHERE $timeFilter GROUP BY time($__interval) fill(0)""",
        "B",
        alias="rejected",
    ),
    unit=PER_MINUTE,
    min_interval="1m",
    legend=("mean", "max"),
    overrides=[field_override("rejected", color={"mode": "fixed", "fixedColor": "red"})],
)
rejected_by_reason = timeseries(
    "Rejected by reason",
    influx(
        """SELECT sum("count") FROM "rejected" WHERE $timeFilter
        GROUP BY time($__interval), "reason" fill(0)""",
        alias="$tag_reason",
    ),
    unit=COUNT,
    bars=True,
    stacked=True,
    min_interval="1m",
    legend=("sum",),
)
rejected_rows = table(
    "Rejected messages (newest first) with their payloads",
    influx(
        """SELECT "reason", "plant", "meter", "detail", "payload" FROM "rejected"
        WHERE $timeFilter ORDER BY time DESC LIMIT 200""",
        table=True,
    ),
    overrides=[field_override("payload", custom__cellOptions={"type": "json-view"})],
    description="What each publisher sent and why it was set aside (docs/mqtt-contract.md).",
)
lag = timeseries(
    "Bridge lag and freshness",
    influx(
        f'SELECT max("lag_s") FROM {BRIDGE} WHERE $timeFilter GROUP BY time($__interval)',
        "A",
        alias="worst lag",
    ),
    influx(
        f"""SELECT mean("batch_latency_ms") / 1000 FROM {BRIDGE} WHERE $timeFilter
        GROUP BY time($__interval)""",
        "B",
        alias="batch latency",
    ),
    influx(
        f'SELECT max("reading_age_s") FROM {BRIDGE} WHERE $timeFilter GROUP BY time($__interval)',
        "C",
        alias="newest reading's age",
    ),
    unit=SECONDS,
    min_interval="1m",
    legend=("mean", "max"),
)
retries = timeseries(
    "Write retries and queue",
    influx(
        f'SELECT sum("retries") FROM {BRIDGE} WHERE $timeFilter GROUP BY time($__interval) fill(0)',
        "A",
        alias="retries",
    ),
    influx(
        f'SELECT max("queue_depth") FROM {BRIDGE} WHERE $timeFilter GROUP BY time($__interval)',
        "B",
        alias="queue",
    ),
    unit=COUNT,
    min_interval="1m",
    legend=("sum", "max"),
    overrides=[
        field_override(
            "retries", custom__drawStyle="bars", color={"mode": "fixed", "fixedColor": "orange"}
        )
    ],
)

agents_online = stat(
    "Agents reporting (last 3 min)",
    influx(
        f"""SELECT count("up") FROM (SELECT last("uptime_s") AS "up" FROM "agent_status"
        WHERE {PLANT} AND $timeFilter GROUP BY "plant", "agent")"""
    ),
    unit=COUNT,
    time_from="3m",
    description="Agents send a status every minute; one silent for 3 minutes is offline.",
)
agents_known = stat(
    "Agents seen (last 7 days)",
    influx(
        f"""SELECT count("up") FROM (SELECT last("uptime_s") AS "up" FROM "agent_status"
        WHERE {PLANT} AND $timeFilter GROUP BY "plant", "agent")"""
    ),
    unit=COUNT,
    time_from="7d",
)
agents = table(
    "Agents: last report, backlog and oldest pending reading",
    influx(
        f"""SELECT last("uptime_s") AS "uptime", "backlog_readings", "backlog_age_s",
        "last_publish_age_s", "awaiting_receipt_readings", "awaiting_receipt_s",
        "readings_rejected", "poll_errors", "meters_failing", "failing_meters",
        "storage_full", "version" FROM "agent_status" WHERE {PLANT} AND $timeFilter
        GROUP BY "plant", "agent" """,
        table=True,
    ),
    overrides=[
        field_override("Time", unit="dateTimeFromNow", displayName="last report"),
        field_override("uptime", unit=DURATION),
        field_override(
            "backlog_readings",
            displayName="backlog (readings)",
            thresholds={"mode": "absolute", "steps": steps("green", (1000, "orange"))},
            custom__cellOptions={"type": "color-text"},
        ),
        field_override(
            "backlog_age_s",
            unit=DURATION,
            displayName="oldest pending reading",
            thresholds={"mode": "absolute", "steps": FRESHNESS},
            custom__cellOptions={"type": "color-text"},
        ),
        field_override("last_publish_age_s", unit=DURATION, displayName="since last PUBACK"),
        field_override("awaiting_receipt_readings", displayName="awaiting receipt"),
        field_override(
            "awaiting_receipt_s",
            unit=DURATION,
            displayName="oldest awaiting receipt",
            thresholds={"mode": "absolute", "steps": RECEIPT_WAIT},
            custom__cellOptions={"type": "color-text"},
        ),
        field_override("readings_rejected", displayName="rejected (receipts)"),
    ],
    sort_by="backlog (readings)",
    description="From each agent's status message (kilowatch/contract/agent_status.py), every "
    "minute.",
)
agents_timeline = status_history(
    "Agents online",
    influx(
        f"""SELECT count("uptime_s") FROM "agent_status" WHERE {PLANT} AND $timeFilter
        GROUP BY time($__interval), "plant", "agent" fill(0)""",
        alias="$tag_plant / $tag_agent",
    ),
    unit=COUNT,
    min_interval="2m",
    mappings=ONLINE,
    thresholds=steps("red", (1, "green")),
)
awaiting_receipt = timeseries(
    "Readings awaiting receipt",
    influx(
        f"""SELECT max("awaiting_receipt_readings") FROM "agent_status" WHERE {PLANT}
        AND $timeFilter GROUP BY time($__interval), "plant", "agent" """,
        alias="$tag_plant / $tag_agent",
    ),
    unit=COUNT,
    min_interval="2m",
    legend=("max", "last"),
    description="Readings the broker acknowledged whose receipt from the bridge (stored in "
    "InfluxDB) has not come yet; the agent keeps them and sends them again after "
    "receipt_timeout_s. Empty for agents with delivery: broker.",
)
awaiting_receipt_age = timeseries(
    "Oldest reading awaiting receipt (wait since its PUBACK)",
    influx(
        f"""SELECT max("awaiting_receipt_s") FROM "agent_status" WHERE {PLANT}
        AND $timeFilter GROUP BY time($__interval), "plant", "agent" """,
        alias="$tag_plant / $tag_agent",
    ),
    unit=SECONDS,
    min_interval="2m",
    legend=("max", "last"),
    description="Seconds; a wait that keeps growing means receipts are not coming back: the "
    "bridge is down or InfluxDB refuses writes, or the ACL hides the receipts topic.",
)
backlog = timeseries(
    "Agent backlog",
    influx(
        f"""SELECT max("backlog_readings") FROM "agent_status" WHERE {PLANT} AND $timeFilter
        GROUP BY time($__interval), "plant", "agent" """,
        alias="$tag_plant / $tag_agent",
    ),
    unit=COUNT,
    min_interval="2m",
    legend=("max", "last"),
)

completeness = table(
    "Completeness per meter (5-minute slots)",
    influx(
        f"""SELECT count("n") AS "received", $__range_s / {SLOT_S} - count("n") AS "missing",
        count("n") * {SLOT_S * 100} / $__range_s AS "complete" FROM ({SLOTS})
        GROUP BY "plant", "meter" """,
        table=True,
    ),
    transformations=[organize(hide=("Time",)), sort_by("complete", desc=False)],
    overrides=[
        field_override("missing", decimals=0),
        field_override(
            "complete",
            unit=PERCENT,
            decimals=1,
            min=0,
            max=100,
            thresholds={"mode": "absolute", "steps": steps("red", (90, "orange"), (99, "green"))},
            custom__cellOptions={"type": "gauge", "mode": "basic"},
        ),
    ],
    description="Expected: one reading per meter in every 5-minute slot of the time range. "
    "The newest slot may still be filling.",
)
gaps = status_history(
    "Gaps: share of 5-minute slots received",
    influx(
        f"""SELECT count("n") * {SLOT_S * 100_000} / $__interval_ms FROM ({SLOTS})
        WHERE $timeFilter GROUP BY time($__interval), "plant", "meter" fill(0)""",
        alias="$tag_plant / $tag_meter",
    ),
    unit=PERCENT,
    min_interval=f"{SLOT_S}s",
    thresholds=steps("red", (90, "orange"), (99, "green")),
    description="Each cell: received slots / slots in the cell. Red cells are gaps; the newest "
    "cell may still be filling.",
)

dashboard = dashboard(
    uid="kw-pipeline",
    title="Pipeline health",
    description="Is every reading arriving? Readings per minute, what was rejected and why, "
    "bridge lag and retries, edge agents, their backlog and readings awaiting receipt, and "
    "gaps per meter.",
    variables=[plant_variable(multi=True)],
    time=("now-24h", "now"),
    refresh="30s",
    panels=grid(
        row("Bridge"),
        (
            4,
            [
                (stored_hour, 4),
                (rejected_hour, 4),
                (freshness, 4),
                (lag_max, 4),
                (retries_hour, 4),
                (queue_now, 4),
            ],
        ),
        (8, [(per_minute, 12), (rejected_by_reason, 12)]),
        (8, [(lag, 12), (retries, 12)]),
        (9, [(rejected_rows, 24)]),
        row("Edge agents"),
        (4, [(agents_online, 4), (agents_known, 4), (agents_timeline, 16)]),
        (8, [(agents, 16), (backlog, 8)]),
        (8, [(awaiting_receipt, 12), (awaiting_receipt_age, 12)]),
        row("Data completeness"),
        (10, [(completeness, 10), (gaps, 14)]),
    ),
)
