"""cdk-nag AwsSolutions findings that are by design in kilowatch's own units, each with its reason.

The DataLake and Orchestration constructs acknowledge their own; tests/cdk/test_nag.py checks
that nothing else is left and that every acknowledgement still matches a finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Stack
from constructs import IConstruct

if TYPE_CHECKING:
    from kilowatch_cdk.stack import KilowatchStack

_AWS_POLICY = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{}]"
LAMBDA_BASIC = _AWS_POLICY.format("AWSLambdaBasicExecutionRole")
LAMBDA_VPC = _AWS_POLICY.format("AWSLambdaVPCAccessExecutionRole")


def _nag_text(stack: Stack, value: str) -> str:
    """A string as cdk-nag spells it in finding ids: tokens become <AWS::Region>, <Id.Arn>, ..."""
    resolved = stack.resolve(value)
    if isinstance(resolved, str):
        return resolved
    text = []
    for part in resolved["Fn::Join"][1]:
        if isinstance(part, str):
            text.append(part)
        elif "Ref" in part:
            text.append(f"<{part['Ref']}>")
        else:
            text.append("<{}.{}>".format(*part["Fn::GetAtt"]))
    return "".join(text)


def _arn_prefix(stack: Stack, service: str) -> str:
    """How cdk-nag spells `arn:{partition}:{service}:{region}:{account}` of this stack."""
    return _nag_text(stack, f"arn:{stack.partition}:{service}:{stack.region}:{stack.account}")


def _logical(stack: Stack, construct: IConstruct) -> str:
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]


def acknowledgements(stack: KilowatchStack) -> list[tuple[IConstruct, str, str]]:
    """(scope, finding id, reason) for every acknowledged finding of the units this stack owns."""
    setup_function = stack.storage.node.find_child("SetupFunction")
    found: list[tuple[IConstruct, str, str]] = [
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
            stack.storage.node.find_child("SetupProvider"),
            f"AwsSolutions-IAM5[Resource::<{_logical(stack, setup_function)}.Arn>:*]",
            "the CDK Provider framework invokes any version of the one setup function",
        ),
    ]
    for function in (stack.processing.function, setup_function):
        found.append(
            (
                function,
                LAMBDA_VPC,
                "the AWS policy for a function in a VPC: logs and its own network "
                "interfaces, nothing on data",
            )
        )
        found.append(
            (function, LAMBDA_BASIC, "the AWS policy that lets a function write its own logs")
        )
    for scope in (
        stack.storage.node.find_child("SetupProvider"),
        _aws_custom_resource_singleton(stack),
    ):
        found.append(
            (scope, LAMBDA_BASIC, "a CDK-provided deploy-time function writing its own logs")
        )
    return found


def _aws_custom_resource_singleton(stack: Stack) -> IConstruct:
    """The function CDK shares among AwsCustomResources (fixed id)."""
    return stack.node.find_child("AWS679f53fac002430cb0da5b7982bd2287")
