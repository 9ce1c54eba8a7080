"""The alerting provisioning files: generated from alerts/*.alerts.py without drift, and in the
shape Grafana's file provisioning reads (apiVersion 1; groups, contactPoints, policies)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from kilowatch.alerts.build import (
    CONTACT_POINTS_FILE,
    DEFAULT_OUT_DIR,
    DEFAULT_SRC_DIR,
    POLICIES_FILE,
    RULES_FILE,
    AlertBuildError,
    build_alerts,
    check_alerts,
)
from kilowatch.cli.main import app

DURATION = re.compile(r"^\d+[smhd]$")
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # Grafana's limit for alert rule uids
HHMM = re.compile(r"^([01]\d|2[0-4]):[0-5]\d$")
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ENV_REFERENCE = re.compile(r"^\$\{KILOWATCH_ALERT_[A-Z_]+\}$")


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((DEFAULT_OUT_DIR / name).read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    return document


def datasource_uid() -> str:
    path = Path("provisioning/grafana/datasources/kilowatch.yaml")
    [source] = yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return str(source["uid"])


def test_the_provisioned_files_have_not_drifted() -> None:
    assert check_alerts(DEFAULT_SRC_DIR, DEFAULT_OUT_DIR) == []


def test_rules_are_in_grafanas_file_provisioning_format() -> None:
    groups = load(RULES_FILE)["groups"]
    assert groups
    uids = set()
    for group in groups:
        assert isinstance(group["orgId"], int) and group["folder"] and group["name"]
        assert DURATION.match(group["interval"])
        for rule in group["rules"]:
            assert UID.match(rule["uid"]) and rule["uid"] not in uids
            uids.add(rule["uid"])
            assert rule["title"] and DURATION.match(rule["for"])
            assert rule["noDataState"] in {"OK", "NoData", "Alerting"}
            assert rule["execErrState"] in {"OK", "Error", "Alerting"}
            assert {"summary", "description"} <= set(rule["annotations"])
            # Grafana replaces $VAR in labels with environment variables: none may hold a $.
            assert all(isinstance(v, str) and "$" not in v for v in rule["labels"].values())
            seen: list[str] = []
            for item in rule["data"]:
                assert set(item) == {"refId", "relativeTimeRange", "datasourceUid", "model"}
                assert item["model"]["refId"] == item["refId"] not in seen
                span = item["relativeTimeRange"]
                assert span["from"] >= span["to"] >= 0
                model = item["model"]
                if item["datasourceUid"] == "__expr__":
                    assert model["type"] in {"reduce", "math", "threshold"}
                    refs = re.findall(r"\$\{?(\w+)", model["expression"])
                    refs = refs if model["type"] == "math" else [model["expression"]]
                    assert refs and set(refs) <= set(seen), (rule["uid"], item["refId"])
                else:
                    assert item["datasourceUid"] == datasource_uid()
                    assert model["rawQuery"] is True and "$timeFilter" in model["query"]
                    assert span["from"] > 0
                seen.append(item["refId"])
            assert rule["condition"] == seen[-1]


def test_contact_points_take_every_secret_from_the_environment() -> None:
    points = load(CONTACT_POINTS_FILE)["contactPoints"]
    types = {r["type"] for p in points for r in p["receivers"]}
    assert {"email", "slack", "teams"} <= types
    for point in points:
        assert isinstance(point["orgId"], int) and point["name"]
        for receiver in point["receivers"]:
            assert UID.match(receiver["uid"])
            secret = receiver["settings"].get("url") or receiver["settings"].get("addresses")
            assert ENV_REFERENCE.match(secret), secret


def test_the_policy_routes_to_known_contact_points_and_mute_timings() -> None:
    document = load(POLICIES_FILE)
    [policy] = document["policies"]
    points = {p["name"] for p in load(CONTACT_POINTS_FILE)["contactPoints"]}
    mutes = {m["name"] for m in document["muteTimes"]}
    assert policy["receiver"] in points
    assert {"alertname", "plant"} <= set(policy["group_by"])
    for route in policy["routes"]:
        assert route["receiver"] in points
        for label, operator, value in route["object_matchers"]:
            assert operator in {"=", "!=", "=~", "!~"} and label and value
        assert set(route.get("mute_time_intervals", [])) <= mutes
    for mute in document["muteTimes"]:
        for interval in mute["time_intervals"]:
            ZoneInfo(interval["location"])
            for span in interval["times"]:
                assert HHMM.match(span["start_time"]) and HHMM.match(span["end_time"])
            for days in interval["weekdays"]:
                assert all(day in WEEKDAYS for day in days.split(":"))


def test_every_rule_labels_its_instances_with_the_plant() -> None:
    for group in load(RULES_FILE)["groups"]:
        for rule in group["rules"]:
            queries = [i["model"]["query"] for i in rule["data"] if "query" in i["model"]]
            assert all('"plant"' in q.rsplit("GROUP BY", 1)[-1] for q in queries), rule["uid"]


def test_build_writes_and_check_finds_drift(tmp_path: Path) -> None:
    out = tmp_path / "alerting"
    (out).mkdir()
    (out / "old.yaml").write_text("apiVersion: 1\n")
    assert sorted(p.name for p in build_alerts(DEFAULT_SRC_DIR, out)) == sorted(
        [RULES_FILE, CONTACT_POINTS_FILE, POLICIES_FILE]
    )
    assert not (out / "old.yaml").exists()
    assert check_alerts(DEFAULT_SRC_DIR, out) == []
    (out / RULES_FILE).write_text("apiVersion: 1\ngroups: []\n")
    [problem] = check_alerts(DEFAULT_SRC_DIR, out)
    assert "rules.yaml differs" in problem and "kilowatch alerts build" in problem


def write_source(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "x.alerts.py").write_text(text)
    return folder


HEAD = "from kilowatch.alerts.model import *\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("raise ValueError('boom')\n", "x.alerts.py failed: ValueError: boom"),
        (
            HEAD + "groups = [Group('g', '1m', (Rule('a', 'A', (Query('A', 'x', 60),), 's', 'd'),"
            " Rule('a', 'B', (Query('A', 'x', 60),), 's', 'd')))]\npolicy = None\n",
            "uid 'a' is defined twice",
        ),
        (
            HEAD + "contact_points = [ContactPoint('c', ())]\npolicy = Policy('nowhere', ())\n",
            "the policy sends to 'nowhere': no such contact point",
        ),
        (
            HEAD + "groups = [Group('g', '1m', (Rule('a', 'A', (Query('A', 'x', 60),), 's', 'd',"
            " labels={'plant': '$HOME'}),))]\n",
            "labels must not contain '$'",
        ),
        (
            HEAD + "groups = [Group('g', '1m', (Rule('a', 'A', (Query('A', 'x', 60),), 's', 'd',"
            " dashboard_uid='kw-demand'),))]\n",
            "rule a: give both dashboard_uid and panel_id, or neither",
        ),
    ],
)
def test_a_broken_source_is_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AlertBuildError, match=re.escape(message)):
        build_alerts(write_source(tmp_path / "src", text), tmp_path / "out")


def test_the_cli_builds_checks_and_says_what_is_wrong(tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "alerting")
    result = runner.invoke(app, ["alerts", "check", "--out", out])
    assert result.exit_code == 1 and "is missing" in result.output
    result = runner.invoke(app, ["alerts", "build", "--out", out])
    assert result.exit_code == 0 and "rules.yaml" in result.output
    assert runner.invoke(app, ["alerts", "check", "--out", out]).exit_code == 0
    result = runner.invoke(app, ["alerts", "build", "--src", str(tmp_path / "none")])
    assert result.exit_code == 2 and "error: alert folder" in result.output


def test_rules_link_to_a_dashboard_panel_as_file_provisioning_reads_it() -> None:
    """Grafana's file provisioning reads `dashboardUid` and `panelId` (rules_types.go); an
    `__dashboardUid__` annotation without `__panelId__` fails its validation ("both annotations
    __dashboardUid__ and __panelId__ must be specified")."""
    dashboards = {}
    for path in Path("provisioning/grafana/dashboards/kilowatch").glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        dashboards[document["uid"]] = {p["id"] for p in document["panels"]}
    linked = 0
    for group in load(RULES_FILE)["groups"]:
        for rule in group["rules"]:
            assert not {"__dashboardUid__", "__panelId__"} & set(rule["annotations"])
            if "dashboardUid" in rule:
                assert rule["panelId"] in dashboards[rule["dashboardUid"]], rule["uid"]
                linked += 1
    assert linked >= 2  # the demand and budget rules open the demand watch


def test_contact_point_settings_have_the_types_grafana_unmarshals() -> None:
    """Grafana's receivers unmarshal settings into typed Go structs (email: singleEmail bool):
    the text "false" is refused and the contact point with it."""
    for point in load(CONTACT_POINTS_FILE)["contactPoints"]:
        for receiver in point["receivers"]:
            settings = receiver["settings"]
            if receiver["type"] == "email" and "singleEmail" in settings:
                assert isinstance(settings["singleEmail"], bool), point["name"]
            assert all(isinstance(v, str | bool) for v in settings.values())
