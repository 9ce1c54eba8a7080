"""The CDK app's settings: context per environment, env overrides, errors, the README table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kilowatch_cdk.settings import (
    CDK_DIR,
    ENVIRONMENTS_CONTEXT_KEY,
    KilowatchSettings,
    SettingsError,
    load_settings,
    settings_table,
)


def _context(**environments: dict[str, object]) -> dict[str, object]:
    return {ENVIRONMENTS_CONTEXT_KEY: environments}


def test_without_context_there_is_one_dev_environment_with_defaults() -> None:
    (settings,) = load_settings({}, environ={})
    assert settings == KilowatchSettings(env_name="dev")
    assert settings.stack_name == "Kilowatch-dev"
    assert settings.removal == "retain"


def test_each_environment_gets_its_own_settings() -> None:
    dev, prod = load_settings(
        _context(dev={"removal": "destroy"}, prod={"influx_multi_az": True}), environ={}
    )
    assert (dev.env_name, dev.removal, dev.influx_multi_az) == ("dev", "destroy", False)
    assert (prod.env_name, prod.removal, prod.influx_multi_az) == ("prod", "retain", True)


def test_environment_variables_override_the_context() -> None:
    environ = {
        "KILOWATCH_CDK_BATCH_SIZE": "250",
        "CDK_DEFAULT_REGION": "eu-west-1",
        "CDK_DEFAULT_ACCOUNT": "111122223333",
    }
    (settings,) = load_settings(_context(dev={"batch_size": 50}), environ=environ)
    assert settings.batch_size == 250
    assert (settings.account, settings.region) == ("111122223333", "eu-west-1")


def test_only_selects_one_environment() -> None:
    (prod,) = load_settings(_context(dev={}, prod={}), environ={}, only="prod")
    assert prod.env_name == "prod"
    with pytest.raises(SettingsError, match="'qa' is not in"):
        load_settings(_context(dev={}), environ={}, only="qa")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"log_retention_days": 31}, "log_retention_days"),
        ({"removal": "keep"}, "removal"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"sentry_dsn_secret_arn": "my-secret"}, "sentry_dsn_secret_arn"),
        # What CloudFormation would refuse only at deploy time: an alarm period of 90 s, an
        # alarm evaluating 600 s x 200 (more than a day), a record age past the retention.
        ({"reading_interval_s": 90}, "reading_interval_s"),
        ({"reading_interval_s": 600, "silent_plant_intervals": 200}, "silent_plant_intervals"),
        ({"max_record_age_s": 25 * 3600}, "max_record_age_s"),
    ],
)
def test_a_wrong_setting_is_one_sentence_naming_it(values: dict[str, object], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_context(prod=values), environ={})
    message = str(caught.value)
    assert f"setting {named!r} is wrong" in message
    assert "environment 'prod'" in message
    assert "\n" not in message


def test_hourly_readings_may_alarm_after_up_to_seven_days() -> None:
    """CloudWatch evaluates up to 7 days with periods of an hour or more, 1 day below."""
    (settings,) = load_settings(
        _context(prod={"reading_interval_s": 3600, "silent_plant_intervals": 168}), environ={}
    )
    assert settings.silent_plant_intervals == 168
    (longer,) = load_settings(
        _context(prod={"kinesis_retention_hours": 48, "max_record_age_s": 48 * 3600}), environ={}
    )
    assert longer.max_record_age_s == 48 * 3600


def test_the_shipped_cdk_json_is_valid() -> None:
    context = json.loads((CDK_DIR / "cdk.json").read_text())["context"]
    names = [s.env_name for s in load_settings(context, environ={})]
    assert names == ["dev", "prod"]


def test_plant_file_is_resolved_from_the_repository() -> None:
    settings = KilowatchSettings()
    assert (
        settings.plant_file_path == (CDK_DIR.parent / "config" / "kilowatch.example.yaml").resolve()
    )
    assert settings.plant_file_path.is_file()


def test_readme_lists_every_setting_as_the_class_describes_it() -> None:
    readme = (CDK_DIR / "README.md").read_text()
    assert settings_table() in readme, (
        "cdk/README.md's settings table is stale: paste settings_table()"
    )


def test_app_reports_a_wrong_setting_as_error_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("kilowatch_cdk_app", CDK_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    app_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app_module)
    monkeypatch.setenv("KILOWATCH_CDK_BATCH_SIZE", "-3")
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    assert app_module.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: environment 'dev': setting 'batch_size' is wrong")
    assert Path(CDK_DIR / "app.py").is_file()
