"""The kilowatch CDK app: one KilowatchStack per environment (`python cdk/app.py`, `cdk synth`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # kilowatch_cdk, from any directory

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from kilowatch_cdk.packaging import (
    PackagingError,
    build_lambda_asset,
    build_orchestration_asset,
)
from kilowatch_cdk.settings import ONLY_CONTEXT_KEY, SettingsError, load_settings
from kilowatch_cdk.stack import KilowatchStack


def build_app(app: cdk.App) -> list[KilowatchStack]:
    """Add every configured environment's stack to the app; cdk-nag checks them all."""
    settings = load_settings(
        {key: app.node.try_get_context(key) for key in ("kilowatch:environments",)},
        only=app.node.try_get_context(ONLY_CONTEXT_KEY),
    )
    stacks = []
    for env_settings in settings:
        plant_file = env_settings.plant_file_path
        env = cdk.Environment(account=env_settings.account, region=env_settings.region)
        stacks.append(
            KilowatchStack(
                app,
                env_settings.stack_name,
                settings=env_settings,
                lambda_asset=build_lambda_asset(plant_file=plant_file),
                orchestration_asset=(
                    build_orchestration_asset(plant_file=plant_file)
                    if env_settings.workflows
                    else None
                ),
                env=env,
            )
        )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


CDK_DIR = Path(__file__).resolve().parent


def make_app() -> cdk.App:
    """The App; run by the CDK CLI it gets context and outdir from it, run alone from cdk.json."""
    if "CDK_OUTDIR" in os.environ:
        return cdk.App()
    context = json.loads((CDK_DIR / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    return cdk.App(outdir=str(CDK_DIR / "cdk.out"), context=context)


def main() -> int:
    """Synthesize; a wrong setting is one sentence on stderr and exit status 2."""
    app = make_app()
    try:
        build_app(app)
    except (SettingsError, PackagingError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as err:  # cdk-nag: a finding without an acknowledgement
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
