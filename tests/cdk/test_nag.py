"""cdk-nag 3 AwsSolutionsChecks over the synthesized app: zero unacknowledged findings."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct
from kilowatch_cdk.packaging import LambdaAsset, TaskAssets
from kilowatch_cdk.settings import KilowatchSettings
from kilowatch_cdk.stack import KilowatchStack


def test_synth_with_aws_solutions_checks_raised_nothing(nag_error: str | None) -> None:
    assert nag_error is None, nag_error


def test_no_plugin_reports_an_unacknowledged_error(nag_report: dict[str, Any]) -> None:
    findings = [
        f"{plugin['pluginName']}: {v['ruleName']} at {c['constructPath']}"
        for plugin in nag_report["pluginReports"]
        for v in plugin["violations"]
        if plugin["pluginName"] == "AwsSolutions" or v.get("severity") == "error"
        for c in v["violatingConstructs"]
    ]
    assert findings == [], "\n".join(findings)


def test_the_checks_are_wired_as_the_fixture_wires_them(tmp_path: Any) -> None:
    """The same plugin set-up on a bucket without TLS enforcement or logs does fail synth."""
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Probe")
    s3.Bucket(stack, "Plain")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_every_acknowledgement_gives_a_real_reason(stack: KilowatchStack) -> None:
    """Every unit's (nag.py, the data lake's, the workflows'), read from the construct tree."""
    reasons = _reasons(stack)
    assert len(reasons) >= 20
    for (path, finding), reason in reasons.items():
        # A reason says why the finding is by design, not just "ok" or "needed".
        assert len(reason.split()) >= 8, f"{finding} at {path}: {reason!r}"


def _reasons(root: IConstruct) -> dict[tuple[str, str], str]:
    """(construct path, finding id) -> reason, of every AwsSolutions acknowledgement under root."""
    found = {}
    for node in root.node.find_all():
        for entry in node.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                for key, reason in entry.data.items():
                    finding = key.removeprefix("Annotation::")
                    if finding.startswith("AwsSolutions-"):
                        found[node.node.path, finding] = reason
    return found


def _acknowledged(root: IConstruct) -> set[tuple[str, str]]:
    """(construct path, finding id) of every AwsSolutions acknowledgement under root."""
    return set(_reasons(root))


class _NoAcknowledgements:
    """Stands in for aws_cdk.Validations in kilowatch_cdk: acknowledge() does nothing."""

    @staticmethod
    def of(_scope: IConstruct) -> Any:
        return SimpleNamespace(acknowledge=lambda *_acks: None)


def test_every_acknowledgement_matches_a_finding(
    stack: KilowatchStack,
    cdk_settings: KilowatchSettings,
    lambda_asset: LambdaAsset,
    orchestration_asset: TaskAssets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No stale acknowledgement: the same stack built without any has each finding they name.

    An acknowledgement left behind after a fix (a grant made explicit, a resource removed)
    would silence the same finding should it come back for another reason.
    """
    for name, module in list(sys.modules.items()):
        if name.startswith("kilowatch_cdk") and getattr(module, "Validations", None) is not None:
            monkeypatch.setattr(module, "Validations", _NoAcknowledgements)
    app = App(context={"aws:cdk:disable-asset-staging": True})
    bare = KilowatchStack(
        app,
        cdk_settings.stack_name,
        settings=cdk_settings,
        lambda_asset=lambda_asset,
        orchestration_asset=orchestration_asset,
        env=Environment(account=cdk_settings.account, region=cdk_settings.region),
    )
    assert _acknowledged(bare) == set()
    report = AwsSolutionsChecks(app).validate_scope(app)
    raw = {
        (resource.construct_path, violation.rule_name)
        for violation in report.violations
        for resource in violation.violating_resources
    }
    stale = sorted(
        f"{finding} at {path}"
        for path, finding in _acknowledged(stack)
        if not any(
            rule == finding and (where == path or where.startswith(path + "/"))
            for where, rule in raw
        )
    )
    assert stale == [], "acknowledged but never found:\n" + "\n".join(stale)
