"""The CDK app synthesized ONCE per session: fixtures `stack`, `template`, `template_json`, ...

Every unit's tests (ingest, processing, storage, data lake, orchestration, monitoring) assert
against the same template. cdk-nag's AwsSolutions checks run in that one synth; a finding
does not stop the other tests (test_nag.py fails on it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
CDK_DIR = Path(__file__).resolve().parents[2] / "cdk"
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))

from aws_cdk import App, Environment, Validations  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402
from kilowatch_cdk.packaging import (  # noqa: E402
    LambdaAsset,
    TaskAssets,
    build_lambda_asset,
    build_orchestration_asset,
)
from kilowatch_cdk.settings import KilowatchSettings  # noqa: E402
from kilowatch_cdk.stack import KilowatchStack  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Synthesis:
    """One synth's results."""

    stack: KilowatchStack
    template: Template
    template_json: dict[str, Any]
    nag_report: dict[str, Any]
    nag_error: str | None


@pytest.fixture(scope="session")
def cdk_settings() -> KilowatchSettings:
    """The settings the tests synthesize: defaults, fixed account/region, Grafana, e-mail on."""
    return KilowatchSettings(
        env_name="test",
        account=ACCOUNT,
        region=REGION,
        alarm_email="ops@example.com",
        grafana=True,
        workflows=True,
    )


@pytest.fixture(scope="session")
def lambda_asset(cdk_settings: KilowatchSettings) -> LambdaAsset:
    """The processing Lambda's asset, built (or reused from cdk/build/) once per session."""
    return build_lambda_asset(plant_file=cdk_settings.plant_file_path)


@pytest.fixture(scope="session")
def orchestration_asset(cdk_settings: KilowatchSettings) -> TaskAssets:
    """The workflows' three task assets (client data, billing, recost), built once per session."""
    return build_orchestration_asset(plant_file=cdk_settings.plant_file_path)


@pytest.fixture(scope="session")
def synthesis(
    cdk_settings: KilowatchSettings,
    lambda_asset: LambdaAsset,
    orchestration_asset: LambdaAsset,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synthesis]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # Assets stay where packaging built them: no copy of ~0.5 GB into every session's outdir.
    app = App(outdir=str(outdir), context={"aws:cdk:disable-asset-staging": True})
    stack = KilowatchStack(
        app,
        cdk_settings.stack_name,
        settings=cdk_settings,
        lambda_asset=lambda_asset,
        orchestration_asset=orchestration_asset,
        env=Environment(account=ACCOUNT, region=REGION),
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    nag_error: str | None = None
    try:
        app.synth()
    except RuntimeError as err:  # findings: the template is written all the same
        nag_error = str(err)
    template_json = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    yield Synthesis(stack, Template.from_json(template_json), template_json, report, nag_error)


@pytest.fixture(scope="session")
def stack(synthesis: Synthesis) -> KilowatchStack:
    """The synthesized KilowatchStack (its constructs, for names and logical ids)."""
    return synthesis.stack


@pytest.fixture(scope="session")
def template(synthesis: Synthesis) -> Template:
    """aws_cdk.assertions.Template of the stack."""
    return synthesis.template


@pytest.fixture(scope="session")
def template_json(synthesis: Synthesis) -> dict[str, Any]:
    """The template as plain JSON."""
    return synthesis.template_json


@pytest.fixture(scope="session")
def nag_report(synthesis: Synthesis) -> dict[str, Any]:
    """The synth's validation report (CDK writes one only when a plugin reported something)."""
    return synthesis.nag_report


@pytest.fixture(scope="session")
def nag_error(synthesis: Synthesis) -> str | None:
    """The error synth raised for unacknowledged findings, or None."""
    return synthesis.nag_error
