"""`kilowatch aws grafana-sources`: stack outputs and the reader token (moto), sources in Grafana.

What moto cannot show: Amazon Managed Grafana itself (moto has no Grafana); the sources are
upserted into a real Grafana container where Docker runs (skipped here, saying so), and
their bodies are compared here with the self-hosted stack's provisioning file.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from kilowatch.aws import grafana
from tests.support.services import require_docker

REGION = "us-east-1"
PROVISIONED = Path(__file__).resolve().parents[2] / "provisioning/grafana/datasources"
OUTPUTS = {
    "InfluxUrl": "https://influx.example:8086",
    "InfluxReaderTokenSecretArn": "",
    "AthenaWorkgroup": "kilowatch-prod-bi",
    "GlueDatabase": "kilowatch_prod_lake",
    "GrafanaUrl": "https://g-abc.grafana-workspace.us-east-1.amazonaws.com",
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def _deploy(session: boto3.session.Session, outputs: dict[str, str]) -> None:
    """A stack with the outputs a KilowatchStack has (moto runs the template's Outputs)."""
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName="Kilowatch-prod", TemplateBody=json.dumps(template))


def test_outputs_and_reader_token_come_from_the_stack(aws: boto3.session.Session) -> None:
    secrets = aws.client("secretsmanager")
    arn = secrets.create_secret(
        Name="reader", SecretString=json.dumps({"token": "t0k", "bucket": "kilowatch", "url": "u"})
    )["ARN"]
    _deploy(aws, {**OUTPUTS, "InfluxReaderTokenSecretArn": arn})
    outputs = grafana.stack_outputs(aws.client("cloudformation"), "Kilowatch-prod")
    assert outputs.influx_url == "https://influx.example:8086"
    assert outputs.grafana_url == OUTPUTS["GrafanaUrl"]
    assert grafana.reader_credentials(secrets, outputs.reader_secret_arn) == ("t0k", "kilowatch")


def test_a_missing_stack_or_output_is_one_sentence(aws: boto3.session.Session) -> None:
    cfn = aws.client("cloudformation")
    with pytest.raises(grafana.GrafanaSourcesError, match="not deployed"):
        grafana.stack_outputs(cfn, "Kilowatch-prod")
    _deploy(aws, {"InfluxUrl": "x"})
    with pytest.raises(grafana.GrafanaSourcesError, match="no output InfluxReaderTokenSecretArn"):
        grafana.stack_outputs(cfn, "Kilowatch-prod")


def test_a_placeholder_secret_means_setup_has_not_run(aws: boto3.session.Session) -> None:
    secrets = aws.client("secretsmanager")
    arn = secrets.create_secret(Name="r", SecretString=json.dumps({"placeholder": "x"}))["ARN"]
    with pytest.raises(grafana.GrafanaSourcesError, match="setup has not run"):
        grafana.reader_credentials(secrets, arn)


def test_influx_source_is_the_one_the_self_hosted_stack_provisions() -> None:
    (provisioned,) = yaml.safe_load(next(PROVISIONED.glob("*.y*ml")).read_text())["datasources"]
    source = grafana.influx_source(url="https://i:8086", database="kilowatch", token="t")
    assert source["uid"] == provisioned["uid"] == "kilowatch-influxdb"
    assert source["type"] == provisioned["type"]
    for key in ("version", "httpMode", "httpHeaderName1"):
        assert source["jsonData"][key] == provisioned["jsonData"][key]
    assert source["secureJsonData"] == {"httpHeaderValue1": "Token t"}


def test_athena_source_reads_the_lake_with_the_workspace_role() -> None:
    source = grafana.athena_source(region=REGION, workgroup="wg", database="db")
    assert source["type"] == "grafana-athena-datasource"
    assert source["jsonData"] == {
        "authType": "ec2_iam_role",
        "defaultRegion": REGION,
        "catalog": "AwsDataCatalog",
        "database": "db",
        "workgroup": "wg",
    }


@pytest.fixture(scope="module")
def grafana_api() -> Iterator[Any]:
    """A real Grafana (container) and an admin client on it."""
    require_docker()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs
    from grafana_client import GrafanaApi

    with DockerContainer("grafana/grafana:11.3.0").with_exposed_ports(3000) as container:
        wait_for_logs(container, "HTTP Server Listen", timeout=120)
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(3000)}/"
        yield GrafanaApi.from_url(url, credential=("admin", "admin"))


@pytest.mark.docker
def test_sources_are_created_then_updated_in_place(grafana_api: Any) -> None:
    wanted = [grafana.influx_source(url="http://influx:8086", database="kilowatch", token="t")]
    assert grafana.upsert_sources(grafana_api, wanted) == ["created kilowatch-influxdb"]
    wanted[0]["url"] = "http://other:8086"
    assert grafana.upsert_sources(grafana_api, wanted) == ["updated kilowatch-influxdb"]
    stored = grafana_api.datasource.get_datasource_by_uid("kilowatch-influxdb")
    assert stored["url"] == "http://other:8086"
    assert stored["jsonData"]["dbName"] == "kilowatch"


def test_cli_reports_a_missing_stack_as_error_and_exit_2(aws: boto3.session.Session) -> None:
    from typer.testing import CliRunner

    from kilowatch.cli.main import app

    arguments = ["aws", "grafana-sources", "--stack", "Kilowatch-prod", "--token", "t"]
    result = CliRunner().invoke(app, [*arguments, "--region", REGION])
    assert result.exit_code == 2
    assert result.output.startswith("error: stack 'Kilowatch-prod' is not deployed")
