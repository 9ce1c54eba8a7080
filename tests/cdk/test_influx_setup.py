"""The InfluxDB setup custom resource (storage/runtime/influx_setup.py) against a real InfluxDB 2.

Timestream for InfluxDB runs InfluxDB 2 OSS, which cannot run here (no package, no Docker
engine): the end-to-end test runs where Docker does and skips here, saying so. Secrets Manager
is moto's. What neither shows: CloudFormation's Provider framework calling `on_event`, and the
instance's TLS certificate (the container speaks plain HTTP).
"""

from __future__ import annotations

import json
import urllib.request
import warnings
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kilowatch_cdk.storage.runtime import influx_setup
from moto import mock_aws

from tests.support.services import require_docker

ADMIN, PASSWORD, ORG, BUCKET = "kilowatch-admin", "admin-password-123", "kilowatch", "kilowatch"


def test_tokens_reach_only_the_one_bucket_and_the_reader_cannot_write() -> None:
    writer = influx_setup.token_permissions(org_id="o1", bucket_id="b1", write=True)
    reader = influx_setup.token_permissions(org_id="o1", bucket_id="b1", write=False)
    bucket = {"type": "buckets", "id": "b1", "orgID": "o1"}
    assert {"action": "write", "resource": bucket} in writer
    assert [p for p in reader if p["action"] == "write"] == []
    for permission in writer + reader:
        assert permission["resource"].get("id") in ("b1", "o1")  # nothing instance-wide


def test_delete_leaves_the_instance_alone() -> None:
    response = influx_setup.on_event({"RequestType": "Delete", "PhysicalResourceId": "x"}, None)
    assert response == {"PhysicalResourceId": "x"}


@pytest.fixture(scope="module")
def influxdb2() -> Iterator[str]:
    """An InfluxDB 2.7 container set up as Timestream sets up an instance (admin, org, bucket)."""
    require_docker()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from testcontainers.influxdb2 import InfluxDb2Container

    container = InfluxDb2Container(
        "influxdb:2.7",
        init_mode="setup",
        username=ADMIN,
        password=PASSWORD,
        org_name=ORG,
        bucket=BUCKET,
    )
    with container:
        yield container.get_url()


def _secrets(client: Any) -> dict[str, str]:
    arns = {}
    for name, value in (
        ("AdminSecretArn", {"username": ADMIN, "password": PASSWORD}),
        ("WriterSecretArn", {"placeholder": "x"}),
        ("ReaderSecretArn", {"placeholder": "y"}),
    ):
        arns[name] = client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
    return arns


def _status(url: str, path: str, token: str, data: bytes | None = None) -> int:
    request = urllib.request.Request(
        f"{url}{path}", data=data, headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.docker
def test_setup_maps_the_dbrp_and_stores_working_tokens_once(
    influxdb2: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("secretsmanager")
        props = {"Url": influxdb2, "Organization": ORG, "Bucket": BUCKET, **_secrets(client)}
        first = influx_setup.prepare(props, client)
        writer = json.loads(
            client.get_secret_value(SecretId=props["WriterSecretArn"])["SecretString"]
        )["token"]
        reader = json.loads(
            client.get_secret_value(SecretId=props["ReaderSecretArn"])["SecretString"]
        )["token"]
        line = b"energy,plant=hmo,meter=m1 energy_kwh=1.5 1796068800000000000"
        assert _status(influxdb2, f"/api/v2/write?org={ORG}&bucket={BUCKET}", writer, line) == 204
        assert _status(influxdb2, f"/api/v2/write?org={ORG}&bucket={BUCKET}", reader, line) in (
            401,
            403,
            404,
        )
        # InfluxQL through the v1 API and the explicit DBRP mapping, with the read token.
        assert _status(influxdb2, "/query?db=kilowatch&q=SELECT%20*%20FROM%20energy", reader) == 200
        second = influx_setup.prepare(props, client)
        assert second == first  # same mapping, tokens kept
        again = json.loads(
            client.get_secret_value(SecretId=props["WriterSecretArn"])["SecretString"]
        )["token"]
        assert again == writer
