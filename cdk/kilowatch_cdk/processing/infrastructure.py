"""The processing Lambda: Kinesis in; points to InfluxDB, records to Firehose, receipts out."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from kilowatch_cdk.grants import OnFailureQueue
from kilowatch_cdk.packaging import HANDLER, PYTHON_VERSION

RUNTIME = lambda_.Runtime.PYTHON_3_12
assert RUNTIME.name == f"python{PYTHON_VERSION}", "the asset's wheels must match the runtime"
METRICS_NAMESPACE = "kilowatch"
READINGS_METRIC = "ReadingsStored"  # the handler emits it per plant (dimension plant)
SERVICE_NAME = "kilowatch-ingest"


class Processing(Construct):
    """The function that runs kilowatch's processing core on every Kinesis record."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        stream: kinesis.IStream,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        influx_token_secret: secretsmanager.ISecret,
        environment: Mapping[str, str],
        memory_mb: int,
        timeout: Duration,
        batch_size: int,
        max_batching_window: Duration,
        parallelization_factor: int,
        retry_attempts: int,
        max_record_age: Duration,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        sentry_dsn_secret_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        env = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "KILOWATCH_INFLUX_TOKEN_SECRET_ARN": influx_token_secret.secret_arn,
            **environment,
        }
        if sentry_dsn_secret_arn:
            env["KILOWATCH_SENTRY_DSN_SECRET_ARN"] = sentry_dsn_secret_arn

        self.function = lambda_.Function(
            self,
            "Function",
            description="kilowatch: validate, cost and store the readings of a Kinesis batch",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=code,
            memory_size=memory_mb,
            timeout=timeout,
            environment=env,
            environment_encryption=key,
            log_group=self.log_group,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[security_group],
            tracing=lambda_.Tracing.DISABLED,
        )

        # The queue keeps the shard and sequence-number range of a batch that failed every retry
        # (Kinesis on-failure destinations carry metadata, not the records): replay from there.
        self.on_failure_queue = sqs.Queue(
            self,
            "OnFailure",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        self.event_source = sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            parallelization_factor=parallelization_factor,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=retry_attempts,
            max_record_age=max_record_age,
            on_failure=OnFailureQueue(self.on_failure_queue, key),
        )
        self.function.add_event_source(self.event_source)

        influx_token_secret.grant_read(self.function)
        if sentry_dsn_secret_arn:
            secretsmanager.Secret.from_secret_complete_arn(
                self, "SentryDsn", sentry_dsn_secret_arn
            ).grant_read(self.function)
        # Receipts to agents through IoT Core's data plane, only on receipts topics.
        prefix = environment.get("KILOWATCH_TOPIC_PREFIX", "kilowatch")
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iot:Publish"],
                resources=[
                    stack.format_arn(
                        service="iot",
                        resource="topic",
                        resource_name=f"{prefix}/*/_agents/*/receipts",
                    )
                ],
            )
        )

    def event_source_mapping_dependency(self, dependency: Construct) -> None:
        """Start reading the stream only once `dependency` exists (InfluxDB ready)."""
        for child in self.function.node.children:
            if isinstance(child, lambda_.EventSourceMapping):
                child.node.add_dependency(dependency)
