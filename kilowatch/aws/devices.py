"""Register an edge agent with AWS IoT Core: thing, certificate, policy, and its settings files."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kilowatch.contract import ID_PATTERN

logger = logging.getLogger(__name__)

MQTT_TLS_PORT = 8883
PLANT_ATTRIBUTE = "plant"  # the IoT policy reads ${iot:Connection.Thing.Attributes[plant]}
# Thing names: IoT allows [a-zA-Z0-9:_-]{1,128}; the name is also the agent id in topics, so it
# must be a kilowatch id too ([A-Za-z0-9_.-]{1,64}): the stricter rule of both.
THING_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ROOT_CA_LABEL = '# Label: "Amazon Root CA 1"'


class DeviceRegistrationError(Exception):
    """A device could not be registered; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class RegisteredDevice:
    """What registration created and wrote."""

    thing_name: str
    plant: str
    certificate_arn: str
    certificate_id: str
    endpoint: str
    cert_file: Path
    key_file: Path
    ca_file: Path
    settings_file: Path


def names_for_environment(environment: str) -> tuple[str, str]:
    """(thing type, policy) the CDK stack of `environment` creates (cdk/kilowatch_cdk/ingest)."""
    return f"kilowatch-{environment}-agent", f"kilowatch-{environment}-device"


def amazon_root_ca_pem() -> str:
    """Amazon Root CA 1 (IoT Core's ATS endpoints chain to it), from certifi's CA bundle."""
    import certifi

    bundle = Path(certifi.where()).read_text(encoding="ascii")
    start = bundle.find(ROOT_CA_LABEL)
    if start < 0:
        raise DeviceRegistrationError(
            "certifi's CA bundle has no Amazon Root CA 1; upgrade certifi"
        )
    begin = bundle.index("-----BEGIN CERTIFICATE-----", start)
    end = bundle.index("-----END CERTIFICATE-----", begin) + len("-----END CERTIFICATE-----")
    return bundle[begin:end] + "\n"


def agent_settings_text(
    *, thing_name: str, plant: str, endpoint: str, cert_file: Path, key_file: Path, ca_file: Path
) -> str:
    """The agent's environment for IoT Core, as an env file (systemd EnvironmentFile, `set -a`)."""
    return (
        f"# kilowatch agent {thing_name} (plant {plant}) on AWS IoT Core.\n"
        f"# The agent YAML must say `plant: {plant}` and `agent: {thing_name}`: the device\n"
        "# policy lets this certificate connect only with client id = thing name, publish only\n"
        "# to its plant's topics and its own status topic, and read only its own receipts.\n"
        f"KILOWATCH_MQTT_URL=mqtts://{endpoint}:{MQTT_TLS_PORT}\n"
        f"KILOWATCH_MQTT_CLIENT_ID={thing_name}\n"
        f"KILOWATCH_MQTT_CA_FILE={ca_file}\n"
        f"KILOWATCH_MQTT_CERT_FILE={cert_file}\n"
        f"KILOWATCH_MQTT_KEY_FILE={key_file}\n"
    )


def _write_private(path: Path, text: str) -> None:
    """Create a file readable by its owner alone (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _check_inputs(thing_name: str, plant: str, files: list[Path]) -> None:
    if not THING_NAME_PATTERN.match(thing_name):
        raise DeviceRegistrationError(
            f"thing name {thing_name!r} must be 1-64 letters, digits, '-' or '_' "
            "(it is also the agent id)"
        )
    if not ID_PATTERN.match(plant):
        raise DeviceRegistrationError(
            f"plant {plant!r} is not a kilowatch id ([A-Za-z0-9_.-], 1-64 characters)"
        )
    existing = [str(f) for f in files if f.exists()]
    if existing:
        raise DeviceRegistrationError(
            f"{', '.join(existing)} already exist; move them away or choose another --cert-dir"
        )


def register_device(
    iot: Any,
    *,
    thing_name: str,
    plant: str,
    thing_type: str,
    policy_name: str,
    cert_dir: Path,
    settings_file: Path,
) -> RegisteredDevice:
    """Create the thing (attribute plant) and an active certificate with the policy; write files.

    `iot` is a boto3 IoT client. Nothing is left behind when a step fails after the
    certificate exists: the certificate is detached, deactivated and deleted, the thing deleted.
    """
    cert_file = cert_dir / f"{thing_name}.cert.pem"
    key_file = cert_dir / f"{thing_name}.private.key"
    ca_file = cert_dir / "AmazonRootCA1.pem"
    _check_inputs(thing_name, plant, [cert_file, key_file, settings_file])
    from botocore.exceptions import ClientError

    try:
        iot.describe_thing(thingName=thing_name)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    else:
        raise DeviceRegistrationError(
            f"thing {thing_name!r} already exists; register a new name or delete it first"
        )

    endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    iot.create_thing(
        thingName=thing_name,
        thingTypeName=thing_type,
        attributePayload={"attributes": {PLANT_ATTRIBUTE: plant}},
    )
    certificate: dict[str, Any] = {}
    written: list[Path] = []
    try:
        certificate = iot.create_keys_and_certificate(setAsActive=True)
        arn = certificate["certificateArn"]
        iot.attach_policy(policyName=policy_name, target=arn)
        iot.attach_thing_principal(thingName=thing_name, principal=arn)
        # The private key exists only in this answer: a key that cannot be written must not
        # leave behind an active certificate nobody holds, so the writes are undone too.
        for path, text in ((cert_file, certificate["certificatePem"]),
                           (key_file, certificate["keyPair"]["PrivateKey"])):  # fmt: skip
            _write_private(path, text)
            written.append(path)
        if not ca_file.exists():
            ca_file.write_text(amazon_root_ca_pem(), encoding="ascii")  # public, shared
        _write_private(
            settings_file,
            agent_settings_text(
                thing_name=thing_name, plant=plant, endpoint=endpoint,
                cert_file=cert_file.resolve(), key_file=key_file.resolve(),
                ca_file=ca_file.resolve(),
            ),
        )  # fmt: skip
    except Exception:
        for path in written:
            path.unlink(missing_ok=True)
        _undo(
            iot,
            thing_name,
            policy_name,
            certificate.get("certificateArn"),
            certificate.get("certificateId"),
        )
        raise
    logger.info(
        "registered thing %s (plant %s), certificate %s",
        thing_name,
        plant,
        certificate["certificateId"],
    )
    return RegisteredDevice(
        thing_name=thing_name,
        plant=plant,
        certificate_arn=certificate["certificateArn"],
        certificate_id=certificate["certificateId"],
        endpoint=endpoint,
        cert_file=cert_file,
        key_file=key_file,
        ca_file=ca_file,
        settings_file=settings_file,
    )


def _undo(
    iot: Any, thing_name: str, policy_name: str, arn: str | None, certificate_id: str | None
) -> None:
    """Remove what a failed registration created, best effort (the original error is raised)."""
    steps: list[tuple[str, dict[str, Any]]] = []
    if arn and certificate_id:
        steps += [
            ("detach_thing_principal", {"thingName": thing_name, "principal": arn}),
            ("detach_policy", {"policyName": policy_name, "target": arn}),
            ("update_certificate", {"certificateId": certificate_id, "newStatus": "INACTIVE"}),
            ("delete_certificate", {"certificateId": certificate_id}),
        ]
    steps.append(("delete_thing", {"thingName": thing_name}))
    for method, arguments in steps:
        try:
            getattr(iot, method)(**arguments)
        except Exception as err:
            logger.debug("cleanup %s failed: %s", method, err)
