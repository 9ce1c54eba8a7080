"""IoT Core: thing type, the device policy's variables, the rules' SQL, partition keys, errors."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template
from kilowatch_cdk.ingest.infrastructure import PLANT_VAR, THING_NAME_VAR
from kilowatch_cdk.stack import KilowatchStack

from tests.cdk.helpers import logical_id, resources_of


def _policy_statements(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (policy,) = resources_of(template_json, "AWS::IoT::Policy").values()
    document = policy["Properties"]["PolicyDocument"]
    return {s["Sid"]: s for s in document["Statement"]}


def _joined(value: Any) -> str:
    """A resource ARN as text, with CloudFormation pseudo parameters spelled as {Name}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(_joined(part) for part in value["Fn::Join"][1])
    if isinstance(value, dict) and "Ref" in value:
        return "{" + value["Ref"] + "}"
    raise AssertionError(f"unexpected ARN form {value!r}")


def test_thing_type_makes_plant_searchable(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IoT::ThingType",
        {
            "ThingTypeName": "kilowatch-test-agent",
            "ThingTypeProperties": {"SearchableAttributes": ["plant"]},
        },
    )


def test_device_connects_only_as_its_own_attached_thing(template_json: dict[str, Any]) -> None:
    connect = _policy_statements(template_json)["ConnectAsOwnThing"]
    assert connect["Action"] == "iot:Connect"
    assert _joined(connect["Resource"]).endswith(f":client/{THING_NAME_VAR}")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_device_publishes_only_to_its_own_plant(template_json: dict[str, Any]) -> None:
    publish = _policy_statements(template_json)["PublishOwnPlantReadingsAndOwnStatus"]
    assert publish["Action"] == "iot:Publish"
    resources = sorted(_joined(r) for r in publish["Resource"])
    prefix = "arn:{AWS::Partition}:iot:us-east-1:123456789012:topic/kilowatch"
    assert resources == [
        f"{prefix}/{PLANT_VAR}/*/readings",
        f"{prefix}/{PLANT_VAR}/_agents/{THING_NAME_VAR}/status",
    ]
    assert PLANT_VAR == "${iot:Connection.Thing.Attributes[plant]}"


def test_device_reads_only_its_own_receipts(template_json: dict[str, Any]) -> None:
    statements = _policy_statements(template_json)
    receipts = f"kilowatch/{PLANT_VAR}/_agents/{THING_NAME_VAR}/receipts"
    assert statements["SubscribeOwnReceipts"]["Action"] == "iot:Subscribe"
    assert _joined(statements["SubscribeOwnReceipts"]["Resource"]).endswith(
        f":topicfilter/{receipts}"
    )
    assert statements["ReceiveOwnReceipts"]["Action"] == "iot:Receive"
    assert _joined(statements["ReceiveOwnReceipts"]["Resource"]).endswith(f":topic/{receipts}")
    actions = {s["Action"] for s in statements.values()}
    assert actions == {"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"}


def _rule(template_json: dict[str, Any], name: str) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]["TopicRulePayload"]
        for r in resources_of(template_json, "AWS::IoT::TopicRule").values()
        if r["Properties"]["RuleName"] == f"kilowatch_test_{name}"
    ]
    return rule


def test_readings_rule_keeps_payload_bytes_and_adds_topic_client_and_time(
    template_json: dict[str, Any],
) -> None:
    rule = _rule(template_json, "readings")
    assert rule["AwsIotSqlVersion"] == "2016-03-23"
    assert rule["Sql"] == (
        "SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS client_id, "
        "timestamp() AS received_at_ms FROM 'kilowatch/+/+/readings'"
    )
    assert rule["RuleDisabled"] is False


def test_status_rule_forwards_agent_status(template_json: dict[str, Any]) -> None:
    rule = _rule(template_json, "status")
    assert rule["AwsIotSqlVersion"] == "2016-03-23"
    assert rule["Sql"].endswith("FROM 'kilowatch/+/_agents/+/status'")
    assert rule["Sql"].startswith("SELECT encode(*, 'base64') AS payload, topic() AS topic")


def test_partition_key_keeps_each_meter_in_order(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    stream = {"Ref": logical_id(stack, stack.ingest.stream)}
    readings = _rule(template_json, "readings")["Actions"]
    status = _rule(template_json, "status")["Actions"]
    assert readings == [
        {
            "Kinesis": {
                "PartitionKey": "${topic(2)}/${topic(3)}",
                "RoleArn": readings[0]["Kinesis"]["RoleArn"],
                "StreamName": stream,
            }
        }
    ]
    assert status[0]["Kinesis"]["PartitionKey"] == "${topic(2)}/_agents/${topic(4)}"


def test_failed_messages_are_kept_in_the_errors_bucket(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    bucket = {"Ref": logical_id(stack, stack.ingest.errors_bucket)}
    for name in ("readings", "status"):
        error = _rule(template_json, name)["ErrorAction"]["S3"]
        assert error["BucketName"] == bucket
        assert error["Key"].startswith(
            f"{name}/${{parse_time('yyyy/MM/dd', timestamp())}}/${{newuuid()}}"
        )


def test_errors_bucket_is_encrypted_tls_only_and_expires(
    template: Template, stack: KilowatchStack
) -> None:
    key = logical_id(stack, stack.key)
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "BucketKeyEnabled": True,
                            "ServerSideEncryptionByDefault": {
                                "KMSMasterKeyID": {"Fn::GetAtt": [key, "Arn"]},
                                "SSEAlgorithm": "aws:kms",
                            },
                        }
                    ]
                },
                "LifecycleConfiguration": {
                    "Rules": [{"ExpirationInDays": 90, "Status": "Enabled"}]
                },
                "LoggingConfiguration": {
                    "LogFilePrefix": "rule-errors/",
                    "DestinationBucketName": Match.any_value(),
                },
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_stream_is_kms_encrypted_with_the_stacks_key(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource(
        "AWS::Kinesis::Stream",
        {
            "Properties": {
                "ShardCount": 1,
                "RetentionPeriodHours": 24,
                "StreamEncryption": {
                    "EncryptionType": "KMS",
                    "KeyId": {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]},
                },
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_rule_role_may_only_put_records_and_error_objects(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    role = stack.ingest.node.find_child("RuleRole")
    policy_id = logical_id(stack, role.node.find_child("DefaultPolicy"))
    statements = template_json["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["kinesis:PutRecord", "kms:GenerateDataKey", "s3:PutObject"]
    assert json.dumps(statements).count('"Resource": "*"') == 0


def test_data_endpoint_is_looked_up_at_deploy_time(template: Template) -> None:
    template.has_resource_properties(
        "Custom::AWS",
        {"Create": Match.string_like_regexp(r"describeEndpoint.*iot:Data-ATS")},
    )
