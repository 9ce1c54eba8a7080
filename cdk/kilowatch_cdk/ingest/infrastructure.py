"""Devices on IoT Core: thing type, per-device policy, topic rules forwarding to Kinesis."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

# The IoT SQL each rule runs. The payload is forwarded as base64 of its exact bytes, because
# it may be a JSON array, not JSON at all, or invalid UTF-8: the processing core must see
# exactly what the device sent to reject it with the right reason, as the bridge does.
# clientid() is the agent's thing name (the policy allows no other client id): receipts go
# back to kilowatch/{plant}/_agents/{client_id}/receipts.
RECORD_SELECT = (
    "SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS client_id, "
    "timestamp() AS received_at_ms"
)
SQL_VERSION = "2016-03-23"
THING_ATTRIBUTE_PLANT = "plant"
# Failed messages land under {rule}/yyyy/MM/dd/{uuid}.json in the rule-errors bucket.
ERROR_KEY_SUFFIX = "${parse_time('yyyy/MM/dd', timestamp())}/${newuuid()}.json"
# Policy variables IoT Core substitutes per connection.
THING_NAME_VAR = "${iot:Connection.Thing.ThingName}"
PLANT_VAR = "${iot:Connection.Thing.Attributes[plant]}"


def readings_filter(prefix: str) -> str:
    """Topic filter of readings: {prefix}/{plant}/{meter}/readings."""
    return f"{prefix}/+/+/readings"


def status_filter(prefix: str) -> str:
    """Topic filter of agents' status: {prefix}/{plant}/_agents/{agent}/status."""
    return f"{prefix}/+/_agents/+/status"


def device_policy_document(
    *, prefix: str, partition: str, region: str, account: str
) -> dict[str, Any]:
    """The per-device policy: connect as own thing, publish to own plant, own receipts only."""
    arn = f"arn:{partition}:iot:{region}:{account}"
    plant_topics = f"{arn}:topic/{prefix}/{PLANT_VAR}"
    agent_topics = f"{plant_topics}/_agents/{THING_NAME_VAR}"
    receipts = f"{prefix}/{PLANT_VAR}/_agents/{THING_NAME_VAR}/receipts"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{arn}:client/{THING_NAME_VAR}",
                # The certificate must be attached to the thing whose name is the client id.
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishOwnPlantReadingsAndOwnStatus",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [f"{plant_topics}/*/readings", f"{agent_topics}/status"],
            },
            {
                "Sid": "SubscribeOwnReceipts",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{arn}:topicfilter/{receipts}",
            },
            {
                "Sid": "ReceiveOwnReceipts",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": f"{agent_topics}/receipts",
            },
        ],
    }


class Ingest(Construct):
    """IoT Core for devices, and the Kinesis stream their messages land on."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        resource_prefix: str,
        topic_prefix: str,
        shard_count: int,
        retention: Duration,
        error_retention: Duration,
        access_logs_bucket: s3.IBucket,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        rule_prefix = resource_prefix.replace("-", "_")  # rule names allow only [a-zA-Z0-9_]

        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.PROVISIONED,
            shard_count=shard_count,
            retention_period=retention,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            removal_policy=removal_policy,
        )

        self.thing_type = iot.CfnThingType(
            self,
            "ThingType",
            thing_type_name=f"{resource_prefix}-agent",
            thing_type_properties=iot.CfnThingType.ThingTypePropertiesProperty(
                thing_type_description="kilowatch edge agent or meter gateway publishing readings",
                searchable_attributes=[THING_ATTRIBUTE_PLANT],
            ),
        )
        self.thing_type_name = f"{resource_prefix}-agent"

        self.policy_name = f"{resource_prefix}-device"
        self.policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_name=self.policy_name,
            policy_document=device_policy_document(
                prefix=topic_prefix,
                partition=stack.partition,
                region=stack.region,
                account=stack.account,
            ),
        )

        self.errors_bucket = s3.Bucket(
            self,
            "RuleErrors",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=False,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix="rule-errors/",
            lifecycle_rules=[s3.LifecycleRule(expiration=error_retention)],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )

        role = iam.Role(
            self,
            "RuleRole",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description="IoT rules: put device messages on the stream, keep failed ones in S3",
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["kinesis:PutRecord"], resources=[self.stream.stream_arn])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[self.errors_bucket.arn_for_objects("*")]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn])
        )

        self.rules: dict[str, iot.CfnTopicRule] = {}
        # Partition key plant/meter (plant/_agents/agent for status): a meter's readings stay
        # on one shard, in order; meter ids are unique only within a plant.
        for name, topic_filter, partition_key in (
            ("readings", readings_filter(topic_prefix), "${topic(2)}/${topic(3)}"),
            ("status", status_filter(topic_prefix), "${topic(2)}/_agents/${topic(4)}"),
        ):
            self.rules[name] = iot.CfnTopicRule(
                self,
                f"{name.capitalize()}Rule",
                rule_name=f"{rule_prefix}_{name}",
                topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                    sql=f"{RECORD_SELECT} FROM '{topic_filter}'",
                    aws_iot_sql_version=SQL_VERSION,
                    rule_disabled=False,
                    description=f"kilowatch {name}: every message to Kinesis, payload as base64",
                    actions=[
                        iot.CfnTopicRule.ActionProperty(
                            kinesis=iot.CfnTopicRule.KinesisActionProperty(
                                stream_name=self.stream.stream_name,
                                partition_key=partition_key,
                                role_arn=role.role_arn,
                            )
                        )
                    ],
                    error_action=iot.CfnTopicRule.ActionProperty(
                        s3=iot.CfnTopicRule.S3ActionProperty(
                            bucket_name=self.errors_bucket.bucket_name,
                            key=f"{name}/{ERROR_KEY_SUFFIX}",
                            role_arn=role.role_arn,
                        )
                    ),
                ),
            )
            self.rules[name].node.add_dependency(role)

        # The account's ATS data endpoint (receipts are published there); CloudFormation has no
        # attribute for it, so one SDK call at deploy time asks IoT Core.
        describe = cr.AwsSdkCall(
            service="Iot",
            action="describeEndpoint",
            parameters={"endpointType": "iot:Data-ATS"},
            physical_resource_id=cr.PhysicalResourceId.of("iot-data-ats-endpoint"),
        )
        lookup = cr.AwsCustomResource(
            self,
            "DataEndpoint",
            on_create=describe,
            on_update=describe,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                # DescribeEndpoint has no resource-level permissions.
                [iam.PolicyStatement(actions=["iot:DescribeEndpoint"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
        )
        self.data_endpoint = lookup.get_response_field("endpointAddress")
