"""The processing Lambda: arm64, the asset's handler, Kinesis batch settings, failure handling."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template
from kilowatch_cdk.packaging import HANDLER
from kilowatch_cdk.processing.infrastructure import Processing
from kilowatch_cdk.stack import KilowatchStack

from tests.cdk.helpers import logical_id, resources_of


def _function(template_json: dict[str, Any], stack: KilowatchStack) -> dict[str, Any]:
    return template_json["Resources"][logical_id(stack, stack.processing.function)]["Properties"]


def test_function_is_arm64_python312_with_the_asset_handler(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    function = _function(template_json, stack)
    assert function["Architectures"] == ["arm64"]
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == HANDLER == "handler.handler"
    assert function["MemorySize"] == 1024
    assert function["Timeout"] == 60
    assert function["KmsKeyArn"] == {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]}


def test_function_runs_in_the_private_subnets_with_the_clients_group(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    vpc_config = _function(template_json, stack)["VpcConfig"]
    group = logical_id(stack, stack.storage.client_security_group)
    assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    private = {logical_id(stack, s) for s in stack.storage.vpc.isolated_subnets}
    assert {ref["Ref"] for ref in vpc_config["SubnetIds"]} == private


def test_function_environment_names_every_connection(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    env = _function(template_json, stack)["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "kilowatch-ingest"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "kilowatch"
    assert env["KILOWATCH_CONFIG"] == "/var/task/config/kilowatch.example.yaml"
    assert env["KILOWATCH_TOPIC_PREFIX"] == "kilowatch"
    assert env["KILOWATCH_INFLUX_ORG"] == env["KILOWATCH_INFLUX_BUCKET"] == "kilowatch"
    assert env["KILOWATCH_INFLUX_VERSION"] == "2"
    influx = logical_id(stack, stack.storage.influx)
    assert env["KILOWATCH_INFLUX_URL"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [influx, "Endpoint"]}, ":8086"]]
    }
    assert env["KILOWATCH_INFLUX_TOKEN_SECRET_ARN"] == {
        "Ref": logical_id(stack, stack.storage.writer_token_secret)
    }
    assert env["KILOWATCH_FIREHOSE_STREAM"] == {
        "Ref": logical_id(stack, stack.lake.delivery_stream)
    }
    assert env["KILOWATCH_IOT_DATA_ENDPOINT"]["Fn::GetAtt"][1] == "endpointAddress"
    assert "KILOWATCH_SENTRY_DSN_SECRET_ARN" not in env  # Sentry is off unless a DSN secret is set


def test_kinesis_event_source_reports_item_failures_bisects_and_bounds_retries(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [logical_id(stack, stack.ingest.stream), "Arn"]},
            "FunctionName": {"Ref": logical_id(stack, stack.processing.function)},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 5,
            "ParallelizationFactor": 1,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 5,
            "MaximumRecordAgeInSeconds": 3600,
            "DestinationConfig": {
                "OnFailure": {
                    "Destination": {
                        "Fn::GetAtt": [logical_id(stack, stack.processing.on_failure_queue), "Arn"]
                    }
                }
            },
        },
    )


def test_stream_is_read_only_after_influxdb_has_its_tokens(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    (mapping,) = resources_of(template_json, "AWS::Lambda::EventSourceMapping").values()
    assert logical_id(stack, stack.storage.setup) in mapping["DependsOn"]


def test_on_failure_queue_is_encrypted_tls_only_and_keeps_14_days(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "KmsMasterKeyId": {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]},
            "MessageRetentionPeriod": 14 * 24 * 3600,
        },
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_function_may_publish_only_receipts(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    role = stack.processing.function.role
    assert role is not None
    policy = template_json["Resources"][logical_id(stack, role.node.find_child("DefaultPolicy"))]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (publish,) = [s for s in statements if s["Action"] == "iot:Publish"]
    assert publish["Resource"]["Fn::Join"][1][-1].endswith(":topic/kilowatch/*/_agents/*/receipts")
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "firehose:PutRecordBatch" in actions
    assert "secretsmanager:GetSecretValue" in actions
    assert not [a for a in actions if a.endswith(":*") or a == "*"]


def test_log_group_is_encrypted_and_kept_30_days(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    """The function's own log group (not just any group of the stack)."""
    function = _function(template_json, stack)
    group_id = logical_id(stack, stack.processing.log_group)
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": group_id}
    group = template_json["Resources"][group_id]
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]}
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"


SENTRY_DSN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kilowatch/sentry-AbCdEf"


@pytest.fixture(scope="module")
def with_sentry_dsn() -> dict[str, Any]:
    """The Processing construct alone, as a stack with `sentry_dsn_secret_arn` builds it."""
    app = App()
    stack = Stack(
        app, "SentryProcessing", env=Environment(account="123456789012", region="us-east-1")
    )
    key = kms.Key(stack, "Key")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    Processing(
        stack,
        "Processing",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
        key=key,
        stream=kinesis.Stream(stack, "Stream"),
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        security_group=ec2.SecurityGroup(stack, "Group", vpc=vpc),
        influx_token_secret=secretsmanager.Secret(stack, "Token"),
        environment={"KILOWATCH_TOPIC_PREFIX": "kilowatch"},
        memory_mb=1024,
        timeout=Duration.seconds(60),
        batch_size=100,
        max_batching_window=Duration.seconds(5),
        parallelization_factor=1,
        retry_attempts=5,
        max_record_age=Duration.hours(1),
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
        sentry_dsn_secret_arn=SENTRY_DSN_ARN,
    )
    return Template.from_stack(stack).to_json()


def test_a_sentry_dsn_secret_is_named_to_the_function_and_readable_by_it_alone(
    with_sentry_dsn: dict[str, Any],
) -> None:
    (function,) = resources_of(with_sentry_dsn, "AWS::Lambda::Function").values()
    env = function["Properties"]["Environment"]["Variables"]
    assert env["KILOWATCH_SENTRY_DSN_SECRET_ARN"] == SENTRY_DSN_ARN
    statements = [
        s
        for policy in resources_of(with_sentry_dsn, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Resource"] == SENTRY_DSN_ARN
    ]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "secretsmanager:GetSecretValue" in actions
    assert not [a for a in actions if "*" in a or not a.startswith("secretsmanager:")]
