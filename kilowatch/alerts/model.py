"""Alert rules, contact points and the notification policy as plain data.

Each object renders to Grafana's file-provisioning format (apiVersion 1; `groups`,
`contactPoints`, `policies`, `muteTimes`). grafanalib's AlertRulev9 renders the ruler API's
shape (`grafana_alert: {...}`, no orgId), which file provisioning does not read, so these are
plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DATASOURCE_UID = "kilowatch-influxdb"  # provisioning/grafana/datasources/kilowatch.yaml
EXPRESSION_UID = "__expr__"
ORG_ID = 1
FOLDER = "kilowatch"
Reducer = Literal["last", "mean", "min", "max", "sum", "count"]
Comparison = Literal["gt", "lt"]
NoDataState = Literal["OK", "NoData", "Alerting"]


@dataclass(frozen=True, slots=True)
class Query:
    """An InfluxQL query over the last `from_s` seconds (to `to_s` seconds ago)."""

    ref: str
    influxql: str
    from_s: int
    to_s: int = 0

    def data(self) -> dict[str, Any]:
        return {
            "refId": self.ref,
            "relativeTimeRange": {"from": self.from_s, "to": self.to_s},
            "datasourceUid": DATASOURCE_UID,
            "model": {
                "refId": self.ref,
                "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
                "query": " ".join(self.influxql.split()),
                "rawQuery": True,
                "resultFormat": "time_series",
                "intervalMs": 1000,
                "maxDataPoints": 43200,
            },
        }


def _expression(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSION_UID,
        "model": {
            "refId": ref,
            "datasource": {"type": EXPRESSION_UID, "uid": EXPRESSION_UID},
            **model,
        },
    }


@dataclass(frozen=True, slots=True)
class Reduce:
    """One number per series: `reducer` of query `source`, non-numbers dropped."""

    ref: str
    source: str
    reducer: Reducer = "last"

    def data(self) -> dict[str, Any]:
        return _expression(
            self.ref,
            {
                "type": "reduce",
                "expression": self.source,
                "reducer": self.reducer,
                "settings": {"mode": "dropNN"},
            },
        )


@dataclass(frozen=True, slots=True)
class Math:
    """A Grafana math expression over reduced numbers, e.g. `$A > 0 && $B > 0`."""

    ref: str
    expression: str

    def data(self) -> dict[str, Any]:
        return _expression(self.ref, {"type": "math", "expression": self.expression})


@dataclass(frozen=True, slots=True)
class Threshold:
    """Firing where `source` is above (gt) or below (lt) `value`."""

    ref: str
    source: str
    comparison: Comparison
    value: float

    def data(self) -> dict[str, Any]:
        return _expression(
            self.ref,
            {
                "type": "threshold",
                "expression": self.source,
                "conditions": [{"evaluator": {"type": self.comparison, "params": [self.value]}}],
            },
        )


Step = Query | Reduce | Math | Threshold


@dataclass(frozen=True, slots=True)
class Rule:
    """An alert rule: queries and expressions, the last one the condition."""

    uid: str
    title: str
    steps: tuple[Step, ...]
    summary: str
    description: str
    for_: str = "0s"
    labels: Mapping[str, str] = field(default_factory=dict)
    no_data: NoDataState = "OK"
    # The dashboard panel an alert links to ("View panel"); Grafana needs both or neither.
    dashboard_uid: str | None = None
    panel_id: int | None = None

    @property
    def condition(self) -> str:
        return self.steps[-1].ref

    def queries(self) -> list[Query]:
        return [s for s in self.steps if isinstance(s, Query)]

    def to_provisioning(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uid": self.uid,
            "title": self.title,
            "condition": self.condition,
            "data": [step.data() for step in self.steps],
        }
        if self.dashboard_uid is not None and self.panel_id is not None:
            # The file format's fields (an __dashboardUid__ annotation needs __panelId__ too).
            out["dashboardUid"] = self.dashboard_uid
            out["panelId"] = self.panel_id
        return out | {
            "noDataState": self.no_data,
            "execErrState": "Error",
            "for": self.for_,
            "labels": dict(self.labels),
            "annotations": {"summary": self.summary, "description": self.description},
            "isPaused": False,
        }


@dataclass(frozen=True, slots=True)
class Group:
    """Rules evaluated together every `interval`."""

    name: str
    interval: str
    rules: tuple[Rule, ...]
    folder: str = FOLDER

    def to_provisioning(self) -> dict[str, Any]:
        return {
            "orgId": ORG_ID,
            "name": self.name,
            "folder": self.folder,
            "interval": self.interval,
            "rules": [rule.to_provisioning() for rule in self.rules],
        }


@dataclass(frozen=True, slots=True)
class Receiver:
    """One integration of a contact point (email, slack, teams, webhook); secrets as
    `${VAR}`, which Grafana replaces from its environment. Settings keep Grafana's types
    (email `singleEmail` is a bool: Grafana refuses the text "false")."""

    uid: str
    type: Literal["email", "slack", "teams", "webhook"]
    settings: Mapping[str, str | bool]

    def to_provisioning(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "type": self.type,
            "settings": dict(self.settings),
            "disableResolveMessage": False,
        }


@dataclass(frozen=True, slots=True)
class ContactPoint:
    name: str
    receivers: tuple[Receiver, ...]

    def to_provisioning(self) -> dict[str, Any]:
        return {
            "orgId": ORG_ID,
            "name": self.name,
            "receivers": [r.to_provisioning() for r in self.receivers],
        }


@dataclass(frozen=True, slots=True)
class Route:
    """Alerts whose labels match every matcher go to `receiver` (Grafana object matchers)."""

    receiver: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, "=" | "=~" | "!=", value)
    mute_time_intervals: tuple[str, ...] = ()
    continue_: bool = False

    def to_provisioning(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "receiver": self.receiver,
            "object_matchers": [list(m) for m in self.matchers],
        }
        if self.mute_time_intervals:
            out["mute_time_intervals"] = list(self.mute_time_intervals)
        if self.continue_:
            out["continue"] = True
        return out


@dataclass(frozen=True, slots=True)
class Policy:
    """The notification policy tree: a default receiver and routes."""

    receiver: str
    routes: tuple[Route, ...]
    group_by: tuple[str, ...] = ("alertname", "plant")
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"

    def to_provisioning(self) -> dict[str, Any]:
        return {
            "orgId": ORG_ID,
            "receiver": self.receiver,
            "group_by": list(self.group_by),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "routes": [r.to_provisioning() for r in self.routes],
        }


@dataclass(frozen=True, slots=True)
class MuteTiming:
    """Times when a route sends nothing (e.g. working shifts, for the idle-load alert)."""

    name: str
    weekdays: tuple[str, ...]  # e.g. "monday:friday"
    times: tuple[tuple[str, str], ...]  # (start, end) local "HH:MM"
    location: str  # IANA time zone of the shifts

    def to_provisioning(self) -> dict[str, Any]:
        return {
            "orgId": ORG_ID,
            "name": self.name,
            "time_intervals": [
                {
                    "times": [{"start_time": a, "end_time": b} for a, b in self.times],
                    "weekdays": list(self.weekdays),
                    "location": self.location,
                }
            ],
        }
