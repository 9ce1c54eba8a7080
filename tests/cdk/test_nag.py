"""cdk-nag 3 AwsSolutionsChecks over the synthesized app: zero unacknowledged findings."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
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
    from kilowatch_cdk.nag import acknowledgements

    found = acknowledgements(stack)
    assert found
    for _scope, finding, reason in found:
        assert finding.startswith("AwsSolutions-"), finding
        # A reason says why the finding is by design, not just "ok" or "needed".
        assert len(reason.split()) >= 8, f"{finding}: {reason!r}"
