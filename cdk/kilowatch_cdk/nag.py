"""cdk-nag AwsSolutions findings that are by design in kilowatch's own units, each with its reason.

The DataLake construct acknowledges its own; tests/cdk/test_nag.py checks nothing else is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Stack, Token
from constructs import Construct

if TYPE_CHECKING:
    from kilowatch_cdk.stack import KilowatchStack

LAMBDA_BASIC = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
LAMBDA_VPC = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]"
KMS_GRANT_REASONS = (
    ("AwsSolutions-IAM5[Action::kms:GenerateDataKey*]", "CDK's grant on the stack's one key (the ARN is named): GenerateDataKey and GenerateDataKeyWithoutPlaintext"),
    ("AwsSolutions-IAM5[Action::kms:ReEncrypt*]", "CDK's grant on the stack's one key (the ARN is named): ReEncryptFrom/To"),
)  # fmt: skip


def _arn_prefix(stack: Stack, service: str) -> str:
    """How cdk-nag spells an ARN's start in a finding id (pseudo parameters when env-agnostic)."""
    region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
    account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
    return f"arn:<AWS::Partition>:{service}:{region}:{account}"


def _logical(stack: Stack, construct: Construct) -> str:
    return stack.resolve(stack.get_logical_id(construct.node.default_child))  # type: ignore[arg-type]


def acknowledgements(stack: KilowatchStack) -> list[tuple[Construct, str, str]]:
    """(scope, finding id, reason) for every acknowledged finding of the units this stack owns."""
    found: list[tuple[Construct, str, str]] = [
        (
            stack.ingest.stream,
            "AwsSolutions-KDS3",
            "the stream is encrypted with the stack's customer-managed key on purpose: one key, "
            "rotated yearly, whose policy names who may read device data (aws/kinesis cannot)",
        ),
        (
            stack.ingest.node.find_child("RuleRole"),
            f"AwsSolutions-IAM5[Resource::<{_logical(stack, stack.ingest.errors_bucket)}.Arn>/*]",
            "IoT error actions write one object per failed message under a date/uuid key made at "
            "run time; the grant is s3:PutObject on this one bucket",
        ),
        (
            stack.ingest.node.find_child("DataEndpoint"),
            "AwsSolutions-IAM5[Resource::*]",
            "iot:DescribeEndpoint has no resource-level permissions; it only reads the account's "
            "endpoint address",
        ),
        (
            stack.processing.function,
            "AwsSolutions-L1",
            "pinned to Python 3.12 because the asset's binary wheels (numpy, pydantic-core, "
            "msgspec, orjson) are built for cp312 (packaging.PYTHON_VERSION); bump both together",
        ),
        (
            stack.processing.function,
            f"AwsSolutions-IAM5[Resource::{_arn_prefix(stack, 'iot')}"
            f":topic/{stack.settings.topic_prefix}/*/_agents/*/receipts]",
            "receipts go to every agent of every plant, named only at run time; the resource "
            "fixes the prefix and the receipts suffix, and the action is iot:Publish alone",
        ),
        (
            stack.processing.on_failure_queue,
            "AwsSolutions-SQS3",
            "this queue is itself the dead end of the Kinesis event source (on-failure "
            "destination); messages stay 14 days and an alarm fires on the first",
        ),
        (
            stack.storage.admin_secret,
            "AwsSolutions-SMG4",
            "the InfluxDB admin password is set once at instance creation and only the setup "
            "function uses it; Timestream has no rotation hook for it",
        ),
        (
            stack.storage.writer_token_secret,
            "AwsSolutions-SMG4",
            "InfluxDB API tokens do not expire and have no rotation Lambda; rotate by deleting the "
            "token in InfluxDB and bumping SETUP_VERSION (the setup writes a new one)",
        ),
        (
            stack.storage.reader_token_secret,
            "AwsSolutions-SMG4",
            "InfluxDB API tokens do not expire and have no rotation Lambda; rotate by deleting the "
            "token in InfluxDB and bumping SETUP_VERSION (the setup writes a new one)",
        ),
        (
            stack.storage.node.find_child("SetupFunction"),
            "AwsSolutions-L1",
            "Python 3.13 is the newest runtime this CDK version's Lambda supports for a "
            "standard-library-only function",
        ),
        (
            stack.storage.node.find_child("SetupProvider"),
            f"AwsSolutions-IAM5[Resource::<{_logical(stack, stack.storage.node.find_child('SetupFunction'))}.Arn>:*]",
            "the CDK Provider framework invokes any version of the one setup function",
        ),
        (
            stack.storage.node.find_child("SetupProvider"),
            "AwsSolutions-L1",
            "the CDK Provider framework's own function; its runtime is chosen by aws-cdk-lib",
        ),
    ]
    for function in (stack.processing.function, stack.storage.node.find_child("SetupFunction")):
        found.append(
            (function, LAMBDA_VPC, "the AWS policy for a function in a VPC: logs and its own network interfaces, nothing on data")
        )
        found.append((function, LAMBDA_BASIC, "the AWS policy that lets a function write its own logs"))
    for scope in (stack.storage.node.find_child("SetupProvider"), _aws_custom_resource_singleton(stack)):
        found.append((scope, LAMBDA_BASIC, "a CDK-provided deploy-time function writing its own logs"))
    for finding, reason in KMS_GRANT_REASONS:
        found.append((stack.processing.function, finding, reason))
    if stack.storage.grafana_role is not None:
        found.extend(_grafana(stack))
    return found


def _aws_custom_resource_singleton(stack: Stack) -> Construct:
    """The function CDK shares among AwsCustomResources (fixed id)."""
    return stack.node.find_child("AWS679f53fac002430cb0da5b7982bd2287")


def _grafana(stack: KilowatchStack) -> list[tuple[Construct, str, str]]:
    role = stack.storage.grafana_role
    assert role is not None
    lake = stack.lake
    database = lake.database_name
    reasons = [
        (f"AwsSolutions-IAM5[Resource::<{_logical(stack, lake.bucket)}.Arn>/readings/*]", "Grafana's Athena queries read the lake's Parquet objects, named by plant and date at run time"),
        (f"AwsSolutions-IAM5[Resource::<{_logical(stack, lake.results_bucket)}.Arn>/*]", "Athena writes each query's result under a new name in the results bucket"),
        (f"AwsSolutions-IAM5[Resource::{_arn_prefix(stack, 'glue')}:table/{database}/kilowatch_*]", "the BI views, one Glue table each, all named kilowatch_*"),
        ("AwsSolutions-IAM5[Action::s3:GetBucket*]", "CDK's read grant on the lake and results buckets only"),
        ("AwsSolutions-IAM5[Action::s3:GetObject*]", "CDK's read grant on the lake and results buckets only"),
        ("AwsSolutions-IAM5[Action::s3:List*]", "CDK's read grant on the lake and results buckets only"),
        ("AwsSolutions-IAM5[Action::s3:Abort*]", "CDK's write grant on the results bucket: AbortMultipartUpload"),
        ("AwsSolutions-IAM5[Action::s3:DeleteObject*]", "CDK's write grant on the results bucket (Athena replaces partial results)"),
        *KMS_GRANT_REASONS,
    ]  # fmt: skip
    return [(role, finding, reason) for finding, reason in reasons]
