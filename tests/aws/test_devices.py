"""`kilowatch aws register-device` against moto's IoT.

What moto cannot show: IoT Core evaluating the device policy's variables
(`${iot:Connection.Thing.ThingName}`, `${iot:Connection.Thing.Attributes[plant]}`) at connect and
publish time, and an MQTT connection with the certificate (moto runs no MQTT broker; its
endpoint address is made up). The policy's text is asserted in tests/cdk/test_ingest.py; here we
check that the thing carries the `plant` attribute the policy reads, that the certificate is
active and attached to both the thing and the policy, and what is written to disk.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from moto import mock_aws
from typer.testing import CliRunner

from kilowatch.aws.devices import (
    DeviceRegistrationError,
    names_for_environment,
    register_device,
)
from kilowatch.cli.main import app

REGION = "us-east-1"
THING_TYPE, POLICY = names_for_environment("dev")


@pytest.fixture
def iot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's IoT with what the CDK stack creates: the thing type and the device policy."""
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("iot", region_name=REGION)
        client.create_thing_type(
            thingTypeName=THING_TYPE, thingTypeProperties={"searchableAttributes": ["plant"]}
        )
        client.create_policy(
            policyName=POLICY, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )
        yield client


def _register(iot: Any, tmp_path: Path, thing: str = "hmo-edge-01", plant: str = "hmo") -> Any:
    return register_device(
        iot,
        thing_name=thing,
        plant=plant,
        thing_type=THING_TYPE,
        policy_name=POLICY,
        cert_dir=tmp_path / "certs",
        settings_file=tmp_path / "agent.env",
    )


def test_thing_gets_the_plant_attribute_and_the_type(iot: Any, tmp_path: Path) -> None:
    _register(iot, tmp_path)
    thing = iot.describe_thing(thingName="hmo-edge-01")
    assert thing["attributes"] == {"plant": "hmo"}
    assert thing["thingTypeName"] == "kilowatch-dev-agent"


def test_certificate_is_active_and_attached_to_thing_and_policy(iot: Any, tmp_path: Path) -> None:
    device = _register(iot, tmp_path)
    certificate = iot.describe_certificate(certificateId=device.certificate_id)[
        "certificateDescription"
    ]
    assert certificate["status"] == "ACTIVE"
    assert iot.list_thing_principals(thingName="hmo-edge-01")["principals"] == [
        device.certificate_arn
    ]
    policies = iot.list_attached_policies(target=device.certificate_arn)["policies"]
    assert [p["policyName"] for p in policies] == ["kilowatch-dev-device"]
    # The file holds the certificate IoT Core knows, and the key belongs to it.
    on_disk = x509.load_pem_x509_certificate(device.cert_file.read_bytes())
    registered = x509.load_pem_x509_certificate(certificate["certificatePem"].encode())
    assert on_disk == registered
    key = serialization.load_pem_private_key(device.key_file.read_bytes(), password=None)
    assert key.public_key().public_numbers() == on_disk.public_key().public_numbers()  # type: ignore[union-attr]


def test_key_certificate_and_settings_are_private_files(iot: Any, tmp_path: Path) -> None:
    device = _register(iot, tmp_path)
    for path in (device.cert_file, device.key_file, device.settings_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_settings_point_the_agent_at_the_ats_endpoint_with_its_certificate(
    iot: Any, tmp_path: Path
) -> None:
    device = _register(iot, tmp_path)
    lines = dict(
        line.split("=", 1)
        for line in device.settings_file.read_text().splitlines()
        if line and not line.startswith("#")
    )
    # moto makes up a new endpoint address per call: the form is what can be checked.
    assert re.fullmatch(
        r"mqtts://[a-z0-9]+-ats\.iot\.us-east-1\.amazonaws\.com:8883",
        lines.pop("KILOWATCH_MQTT_URL"),
    )
    assert device.endpoint in device.settings_file.read_text()
    assert lines == {
        "KILOWATCH_MQTT_CLIENT_ID": "hmo-edge-01",
        "KILOWATCH_MQTT_CA_FILE": str(device.ca_file.resolve()),
        "KILOWATCH_MQTT_CERT_FILE": str(device.cert_file.resolve()),
        "KILOWATCH_MQTT_KEY_FILE": str(device.key_file.resolve()),
    }
    assert "agent: hmo-edge-01" in device.settings_file.read_text()


def test_ca_file_is_amazon_root_ca_1(iot: Any, tmp_path: Path) -> None:
    device = _register(iot, tmp_path)
    ca = x509.load_pem_x509_certificate(device.ca_file.read_bytes())
    assert ca.subject.rfc4514_string() == "CN=Amazon Root CA 1,O=Amazon,C=US"


def test_an_existing_thing_is_refused_and_left_alone(iot: Any, tmp_path: Path) -> None:
    first = _register(iot, tmp_path)
    with pytest.raises(DeviceRegistrationError, match="already exists"):
        _register(iot, tmp_path / "again")
    assert iot.list_thing_principals(thingName="hmo-edge-01")["principals"] == [
        first.certificate_arn
    ]


def test_a_failed_attachment_leaves_nothing_behind(iot: Any, tmp_path: Path) -> None:
    iot.delete_policy(policyName=POLICY)  # the stack of this environment is not deployed
    with pytest.raises(Exception, match=r"(?i)not ?found|does not exist"):
        _register(iot, tmp_path)
    assert iot.list_things()["things"] == []
    assert iot.list_certificates()["certificates"] == []
    assert not (tmp_path / "certs" / "hmo-edge-01.private.key").exists()


def test_files_that_cannot_be_written_leave_nothing_behind(iot: Any, tmp_path: Path) -> None:
    """The private key exists only in create_keys_and_certificate's answer: if it cannot be
    written, an active certificate nobody holds the key of must not stay attached to a thing."""
    (tmp_path / "blocker").write_text("a file where the certificate folder should be")
    with pytest.raises(OSError):
        register_device(
            iot,
            thing_name="hmo-edge-01",
            plant="hmo",
            thing_type=THING_TYPE,
            policy_name=POLICY,
            cert_dir=tmp_path / "blocker" / "certs",
            settings_file=tmp_path / "agent.env",
        )
    assert iot.list_things()["things"] == []
    assert iot.list_certificates()["certificates"] == []
    assert not (tmp_path / "agent.env").exists()


def test_a_settings_file_that_cannot_be_written_removes_the_key_files_too(
    iot: Any, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("a file where the settings folder should be")
    with pytest.raises(OSError):
        register_device(
            iot,
            thing_name="hmo-edge-01",
            plant="hmo",
            thing_type=THING_TYPE,
            policy_name=POLICY,
            cert_dir=tmp_path / "certs",
            settings_file=tmp_path / "blocker" / "agent.env",
        )
    assert iot.list_things()["things"] == []
    assert iot.list_certificates()["certificates"] == []
    assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == ["AmazonRootCA1.pem"]


@pytest.mark.parametrize(
    ("thing", "plant", "message"),
    [
        ("bad name", "hmo", "thing name"),
        ("edge.01", "hmo", "thing name"),
        ("edge-01", "h m o", "plant"),
    ],
)
def test_bad_names_are_refused_before_any_aws_call(
    iot: Any, tmp_path: Path, thing: str, plant: str, message: str
) -> None:
    with pytest.raises(DeviceRegistrationError, match=message):
        _register(iot, tmp_path, thing=thing, plant=plant)
    assert iot.list_things()["things"] == []


def test_existing_key_files_are_never_overwritten(iot: Any, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "hmo-edge-01.private.key").write_text("someone's key")
    with pytest.raises(DeviceRegistrationError, match="already exist"):
        _register(iot, tmp_path)
    assert iot.list_things()["things"] == []


def test_cli_registers_and_prints_what_it_wrote(iot: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "aws",
            "register-device",
            "--thing",
            "sea-gw-1",
            "--plant",
            "sea",
            "--cert-dir",
            str(tmp_path),
            "--region",
            REGION,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "thing sea-gw-1 (plant sea) registered" in result.output
    assert (tmp_path / "sea-gw-1.env").is_file()
    assert iot.describe_thing(thingName="sea-gw-1")["attributes"] == {"plant": "sea"}


def test_cli_error_is_one_sentence_and_exit_2(iot: Any, tmp_path: Path) -> None:
    arguments = [
        "aws",
        "register-device",
        "--thing",
        "x",
        "--plant",
        "hmo",
        "--cert-dir",
        str(tmp_path),
        "-e",
        "prod",
    ]
    result = CliRunner().invoke(app, [*arguments, "--region", REGION])
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output


def test_cli_takes_the_region_from_aws_region(
    iot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help and the error name AWS_REGION, which botocore alone does not read."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", REGION)
    result = CliRunner().invoke(
        app,
        [
            "aws",
            "register-device",
            "--thing",
            "hmo-gw-2",
            "--plant",
            "hmo",
            "--cert-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert iot.describe_thing(thingName="hmo-gw-2")["attributes"] == {"plant": "hmo"}
