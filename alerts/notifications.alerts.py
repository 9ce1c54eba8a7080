"""Where alerts go: contact points (secrets from the environment) and the notification policy.

Grafana replaces `${VAR}` in contact-point settings with the grafana container's environment
(docker-compose.yml passes the KILOWATCH_ALERT_* variables), so no address or webhook URL is
written here. Routes match the alerts' labels: `plant` (from the queries), `kind`, `severity`.
"""

from __future__ import annotations

from kilowatch.alerts.model import ContactPoint, MuteTiming, Policy, Receiver, Route

EMAIL = "kilowatch-email"
CHAT = "kilowatch-chat"
TEAMS = "kilowatch-teams"

contact_points = [
    ContactPoint(
        EMAIL,
        (
            Receiver(
                "kw-email",
                "email",
                {"addresses": "${KILOWATCH_ALERT_EMAIL}", "singleEmail": False},
            ),
        ),
    ),
    # Slack incoming webhook (or any Slack-compatible one, e.g. Mattermost).
    ContactPoint(CHAT, (Receiver("kw-slack", "slack", {"url": "${KILOWATCH_ALERT_SLACK_URL}"}),)),
    ContactPoint(TEAMS, (Receiver("kw-teams", "teams", {"url": "${KILOWATCH_ALERT_TEAMS_URL}"}),)),
]

# Working shifts: the idle-load alert is muted while they run (Grafana mute timing, local time).
shifts = [
    MuteTiming(
        "kilowatch-shifts",
        weekdays=("monday:friday",),
        times=(("06:00", "22:00"),),
        location="America/Hermosillo",
    ),
    MuteTiming(
        "kilowatch-shifts-saturday",
        weekdays=("saturday",),
        times=(("06:00", "14:00"),),
        location="America/Hermosillo",
    ),
]
mute_timings = shifts

policy = Policy(
    receiver=EMAIL,
    routes=(
        # Money that can still be saved: chat first (seen within minutes), e-mail as well.
        Route(CHAT, (("kind", "=", "money"), ("severity", "=", "critical")), continue_=True),
        Route(
            EMAIL,
            (("alertname", "=", "Idle load outside shifts"),),
            mute_time_intervals=tuple(m.name for m in shifts),
        ),
        # An example of routing by plant: plant hmo's pipeline alerts go to its Teams channel.
        Route(TEAMS, (("plant", "=", "hmo"), ("kind", "=", "pipeline"))),
    ),
)
