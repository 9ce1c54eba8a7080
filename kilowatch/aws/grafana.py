"""Point a Grafana (Amazon Managed Grafana) at a deployed stack: the InfluxDB and Athena sources.

The dashboards refer to the InfluxDB source by uid `kilowatch-influxdb`, exactly as the
self-hosted stack provisions it (provisioning/grafana/datasources/), so `kilowatch dashboards
push` works unchanged against the workspace once these sources exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

INFLUX_UID = "kilowatch-influxdb"  # the uid the dashboards use
ATHENA_UID = "kilowatch-athena"
ATHENA_PLUGIN = "grafana-athena-datasource"
REQUIRED_OUTPUTS = ("InfluxUrl", "InfluxReaderTokenSecretArn", "AthenaWorkgroup", "GlueDatabase")


class GrafanaSourcesError(Exception):
    """The stack, its secret or Grafana cannot give what the sources need; one sentence."""


@dataclass(frozen=True, kw_only=True)
class StackOutputs:
    """What the data sources need from a deployed KilowatchStack."""

    influx_url: str
    reader_secret_arn: str
    athena_workgroup: str
    glue_database: str
    grafana_url: str | None


def stack_outputs(cloudformation: Any, stack_name: str) -> StackOutputs:
    """The stack's outputs (boto3 CloudFormation client)."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as err:
        raise GrafanaSourcesError(
            f"stack {stack_name!r} is not deployed in this account and region; deploy it first"
        ) from err
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise GrafanaSourcesError(
            f"stack {stack_name!r} has no output {', '.join(missing)}: is it a kilowatch stack?"
        )
    return StackOutputs(
        influx_url=outputs["InfluxUrl"],
        reader_secret_arn=outputs["InfluxReaderTokenSecretArn"],
        athena_workgroup=outputs["AthenaWorkgroup"],
        glue_database=outputs["GlueDatabase"],
        grafana_url=outputs.get("GrafanaUrl"),
    )


def reader_credentials(secrets: Any, secret_arn: str) -> tuple[str, str]:
    """(token, bucket) of the InfluxDB read token the stack's setup stored (boto3 client)."""
    value = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])
    token = value.get("token")
    if not token:
        raise GrafanaSourcesError(
            "the reader token secret holds no token yet: the stack's InfluxDB setup has not run"
        )
    return str(token), str(value.get("bucket", "kilowatch"))


def influx_source(*, url: str, database: str, token: str) -> dict[str, Any]:
    """The InfluxDB source as the self-hosted stack provisions it (InfluxQL, token header)."""
    return {
        "name": "kilowatch InfluxDB",
        "uid": INFLUX_UID,
        "type": "influxdb",
        "access": "proxy",
        "url": url,
        "isDefault": True,
        "jsonData": {
            "version": "InfluxQL",
            "dbName": database,
            "httpMode": "POST",
            "timeInterval": "10s",
            "httpHeaderName1": "Authorization",
        },
        "secureJsonData": {"httpHeaderValue1": f"Token {token}"},
    }


def athena_source(*, region: str, workgroup: str, database: str) -> dict[str, Any]:
    """The Athena source on the data lake, with the workspace's own IAM role."""
    return {
        "name": "kilowatch Athena",
        "uid": ATHENA_UID,
        "type": ATHENA_PLUGIN,
        "access": "proxy",
        "isDefault": False,
        "jsonData": {
            "authType": "ec2_iam_role",  # the workspace's service-managed role
            "defaultRegion": region,
            "catalog": "AwsDataCatalog",
            "database": database,
            "workgroup": workgroup,
        },
    }


def upsert_sources(api: Any, sources: Sequence[Mapping[str, Any]]) -> list[str]:
    """Create each source, or update it in place when its uid exists; what was done, per source."""
    from grafana_client.client import GrafanaClientError, GrafanaException
    from requests import RequestException

    done = []
    for source in sources:
        uid = str(source["uid"])
        try:
            try:
                api.datasource.get_datasource_by_uid(uid)
            except GrafanaClientError as err:
                if err.status_code != 404:
                    raise
                api.datasource.create_datasource(dict(source))
                done.append(f"created {uid}")
            else:
                api.datasource.update_datasource_by_uid(uid, dict(source))
                done.append(f"updated {uid}")
        except (GrafanaException, RequestException) as err:
            raise GrafanaSourcesError(f"Grafana refused the data source {uid}: {err}") from err
    return done
