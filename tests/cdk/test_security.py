"""Security across the whole stack: encryption at rest, TLS-only buckets, IAM, removal policies."""

from __future__ import annotations

import json
from typing import Any

from kilowatch_cdk.stack import KilowatchStack

from tests.cdk.helpers import logical_id, resources_of

# Resources that hold data; each must say what `cdk destroy` does to it.
STATEFUL = (
    "AWS::S3::Bucket",
    "AWS::Kinesis::Stream",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::SecretsManager::Secret",
    "AWS::KMS::Key",
    "AWS::Timestream::InfluxDBInstance",
)


def test_every_bucket_is_encrypted_private_and_tls_only(template_json: dict[str, Any]) -> None:
    buckets = resources_of(template_json, "AWS::S3::Bucket")
    policies = {
        p["Properties"]["Bucket"]["Ref"]: json.dumps(p["Properties"]["PolicyDocument"])
        for p in resources_of(template_json, "AWS::S3::BucketPolicy").values()
    }
    assert len(buckets) >= 4
    for bucket_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], bucket_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, bucket_id
        assert '"aws:SecureTransport": "false"' in policies[bucket_id], bucket_id


def test_kms_at_rest_for_every_store_but_access_logs(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    key = {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]}
    access_logs = logical_id(stack, stack.access_logs)
    for bucket_id, bucket in resources_of(template_json, "AWS::S3::Bucket").items():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        # S3 server access logs can only be delivered to an SSE-S3 bucket.
        expected = "AES256" if bucket_id == access_logs else "aws:kms"
        assert algorithm == expected, bucket_id
    for log_id, group in resources_of(template_json, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("KmsKeyId") == key, log_id
    for queue in resources_of(template_json, "AWS::SQS::Queue").values():
        assert queue["Properties"]["KmsMasterKeyId"] == key
    for topic in resources_of(template_json, "AWS::SNS::Topic").values():
        assert topic["Properties"]["KmsMasterKeyId"] == key


def test_the_key_rotates_and_is_retained(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    key = template_json["Resources"][logical_id(stack, stack.key)]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["PendingWindowInDays"] == 30
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


def test_every_stateful_resource_has_an_explicit_retain_policy(
    template_json: dict[str, Any],
) -> None:
    for resource_type in STATEFUL:
        for resource_id, resource in resources_of(template_json, resource_type).items():
            assert resource.get("DeletionPolicy") == "Retain", f"{resource_type} {resource_id}"


def _statements(template_json: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for policy_id, policy in resources_of(template_json, "AWS::IAM::Policy").items():
        found += [(policy_id, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for role_id, role in resources_of(template_json, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(role_id, s) for s in inline["PolicyDocument"]["Statement"]]
    return found


def test_no_wildcard_actions_and_no_star_resources_on_data(template_json: dict[str, Any]) -> None:
    data_services = (
        "s3:",
        "kinesis:",
        "firehose:",
        "sqs:",
        "secretsmanager:",
        "kms:",
        "iot:Publish",
        "athena:",
        "glue:",
    )
    for owner, statement in _statements(template_json):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{owner}: {action}"
            # s3:GetObject*, s3:List*, kms:GenerateDataKey*... (CDK's grants) are wildcards too.
            if action.startswith(data_services) and statement["Effect"] == "Allow":
                assert "*" not in action, f"{owner}: {action}"
        if statement.get("Resource") == "*":
            assert not [a for a in actions if a.startswith(data_services)], (
                f"{owner}: {actions} on *"
            )


def test_the_key_policy_statements_the_stack_writes_name_their_actions(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    """CloudWatch Logs (encrypted log groups) and CloudWatch (alarms to the encrypted topic)."""
    key = template_json["Resources"][logical_id(stack, stack.key)]
    ours = {"logs.us-east-1.amazonaws.com", "cloudwatch.amazonaws.com"}
    found = {}
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        service = statement["Principal"].get("Service")
        if service in ours:
            found[service] = statement["Action"]
    assert set(found) == ours
    for service, actions in found.items():
        assert not [a for a in actions if "*" in a], f"{service}: {actions}"
