"""KilowatchStack: one environment of kilowatch on AWS, composed of its units."""

from __future__ import annotations

from aws_cdk import (
    Acknowledgment,
    ArnFormat,
    CfnOutput,
    Duration,
    Environment,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from kilowatch_cdk.datalake.infrastructure import DataLake
from kilowatch_cdk.ingest.infrastructure import Ingest
from kilowatch_cdk.monitoring.infrastructure import Monitoring
from kilowatch_cdk.nag import acknowledgements
from kilowatch_cdk.orchestration.infrastructure import Orchestration
from kilowatch_cdk.packaging import LambdaAsset, TaskAssets, lambda_code
from kilowatch_cdk.processing.infrastructure import Processing
from kilowatch_cdk.settings import KilowatchSettings, SettingsError
from kilowatch_cdk.storage.infrastructure import Storage

LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the asset


def plant_ids(settings: KilowatchSettings) -> list[str]:
    """The plants of the plant file (alarms per plant, the lake's partition projection)."""
    from kilowatch.config import ConfigError, load_config

    try:
        return [plant.id for plant in load_config(settings.plant_file_path).plants]
    except ConfigError as err:
        raise SettingsError(f"plant_file {settings.plant_file}: {err}") from None


class KilowatchStack(Stack):
    """IoT Core -> Kinesis -> Lambda (the bridge's core) -> InfluxDB, Firehose/S3; alarms.

    `orchestration_asset` (build_orchestration_asset: one asset per group of workflow tasks)
    adds the Step Functions workflows.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: KilowatchSettings,
        lambda_asset: LambdaAsset,
        orchestration_asset: TaskAssets | None = None,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"kilowatch {settings.env_name}: IoT Core, Kinesis, Lambda, InfluxDB, lake",
            termination_protection=settings.removal == "retain",
            env=env,
        )
        self.settings = settings
        removal = RemovalPolicy.RETAIN if settings.removal == "retain" else RemovalPolicy.DESTROY
        log_retention: logs.RetentionDays = settings.log_retention
        prefix = settings.resource_prefix
        plants = plant_ids(settings)

        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{prefix}",
            description="kilowatch: every store of this environment (stream, queues, buckets...)",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=removal,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                # What CloudWatch Logs' documented `Encrypt*, Decrypt*, ReEncrypt*,
                # GenerateDataKey*, Describe*` covers for a symmetric key, named one by one.
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:DescribeKey",
                ],
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                resources=["*"],  # in a key policy "*" is this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": self.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logs need SSE-S3
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=removal,
        )

        self.ingest = Ingest(
            self,
            "Ingest",
            key=self.key,
            resource_prefix=prefix,
            topic_prefix=settings.topic_prefix,
            shard_count=settings.kinesis_shards,
            retention=Duration.hours(settings.kinesis_retention_hours),
            error_retention=Duration.days(settings.error_retention_days),
            access_logs_bucket=self.access_logs,
            removal_policy=removal,
        )
        self.storage = Storage(
            self,
            "Storage",
            key=self.key,
            resource_prefix=prefix,
            vpc_cidr=settings.vpc_cidr,
            max_azs=settings.max_azs,
            internet_egress=settings.sentry_dsn_secret_arn is not None,
            iot_data_endpoint=self.ingest.data_endpoint,
            influx_instance_type=settings.influx_instance_type,
            influx_storage_gb=settings.influx_storage_gb,
            influx_multi_az=settings.influx_multi_az,
            influx_org=settings.influx_org,
            influx_bucket=settings.influx_bucket,
            with_grafana=settings.grafana,
            access_logs_bucket=self.access_logs,
            log_retention=log_retention,
            removal_policy=removal,
        )
        self.processing = Processing(
            self,
            "Processing",
            code=lambda_code(lambda_asset),
            key=self.key,
            stream=self.ingest.stream,
            vpc=self.storage.vpc,
            subnets=self.storage.subnets,
            security_group=self.storage.client_security_group,
            influx_token_secret=self.storage.writer_token_secret,
            environment={
                "KILOWATCH_ENVIRONMENT": settings.env_name,
                "KILOWATCH_CONFIG": f"{LAMBDA_TASK_ROOT}/{lambda_asset.plant_file_in_asset}",
                "KILOWATCH_TOPIC_PREFIX": settings.topic_prefix,
                "KILOWATCH_INFLUX_URL": self.storage.influx_url,
                "KILOWATCH_INFLUX_ORG": settings.influx_org,
                "KILOWATCH_INFLUX_BUCKET": settings.influx_bucket,
                "KILOWATCH_INFLUX_VERSION": "2",
                "KILOWATCH_IOT_DATA_ENDPOINT": self.ingest.data_endpoint,
            },
            memory_mb=settings.lambda_memory_mb,
            timeout=Duration.seconds(settings.lambda_timeout_s),
            batch_size=settings.batch_size,
            max_batching_window=Duration.seconds(settings.max_batching_window_s),
            parallelization_factor=settings.parallelization_factor,
            retry_attempts=settings.retry_attempts,
            max_record_age=Duration.seconds(settings.max_record_age_s),
            log_retention=log_retention,
            removal_policy=removal,
            sentry_dsn_secret_arn=settings.sentry_dsn_secret_arn,
        )
        # The function must not start before InfluxDB has its tokens (its role must not wait:
        # the setup's secrets use the key whose policy names the role).
        self.processing.event_source_mapping_dependency(self.storage.setup)

        self.lake = DataLake(
            self,
            "DataLake",
            key=self.key,
            plants=plants,
            name_prefix=prefix,
            access_logs_bucket=self.access_logs,
            log_retention=log_retention,
            removal_policy=removal,
        )
        self.lake.delivery_stream.grant_put_records(self.processing.function)
        self.processing.function.add_environment(
            "KILOWATCH_FIREHOSE_STREAM", self.lake.delivery_stream.delivery_stream_name
        )
        if self.storage.grafana_role is not None:
            self.lake.grant_query(self.storage.grafana_role)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            key=self.key,
            resource_prefix=prefix,
            stream=self.ingest.stream,
            function=self.processing.function,
            on_failure_queue=self.processing.on_failure_queue,
            rules=self.ingest.rules,
            plants=plants,
            reading_interval=Duration.seconds(settings.reading_interval_s),
            silent_plant_intervals=settings.silent_plant_intervals,
            delivery_stream=self.lake.delivery_stream,
            alarm_email=settings.alarm_email,
        )
        self.orchestration: Orchestration | None = None
        if orchestration_asset is not None:
            tasks_plant_file = orchestration_asset.plant_file_in_asset
            self.orchestration = Orchestration(
                self,
                "Orchestration",
                key=self.key,
                lambda_code=orchestration_asset.code(),
                lambda_environment={
                    "KILOWATCH_ENVIRONMENT": settings.env_name,
                    "KILOWATCH_CONFIG": f"{LAMBDA_TASK_ROOT}/{tasks_plant_file}",
                    "KILOWATCH_INFLUX_URL": self.storage.influx_url,
                    "KILOWATCH_INFLUX_ORG": settings.influx_org,
                    "KILOWATCH_INFLUX_BUCKET": settings.influx_bucket,
                    "KILOWATCH_INFLUX_VERSION": "2",
                },
                vpc=self.storage.vpc,
                subnets=self.storage.subnets,
                security_group=self.storage.client_security_group,
                influx_secret=self.storage.writer_token_secret,
                alarm_topic=self.monitoring.topic,
                resource_prefix=prefix,
                access_logs_bucket=self.access_logs,
                log_retention=log_retention,
                removal_policy=removal,
            )
        self._outputs()
        self._acknowledge()

    def _outputs(self) -> None:
        """What people need after a deploy (`aws cloudformation describe-stacks` shows them)."""
        outputs = {
            "ThingTypeName": self.ingest.thing_type_name,
            "DevicePolicyName": self.ingest.policy_name,
            "IotDataEndpoint": self.ingest.data_endpoint,
            "StreamName": self.ingest.stream.stream_name,
            "RuleErrorsBucket": self.ingest.errors_bucket.bucket_name,
            "FunctionName": self.processing.function.function_name,
            "OnFailureQueueUrl": self.processing.on_failure_queue.queue_url,
            "InfluxUrl": self.storage.influx_url,
            "InfluxWriterTokenSecretArn": self.storage.writer_token_secret.secret_arn,
            "InfluxReaderTokenSecretArn": self.storage.reader_token_secret.secret_arn,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "LakeBucket": self.lake.bucket.bucket_name,
            "AthenaWorkgroup": self.lake.workgroup_name,
            "GlueDatabase": self.lake.database_name,
        }
        if self.storage.grafana_workspace is not None:
            outputs["GrafanaWorkspaceId"] = self.storage.grafana_workspace.attr_id
            outputs["GrafanaUrl"] = f"https://{self.storage.grafana_workspace.attr_endpoint}"
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

    def _acknowledge(self) -> None:
        """cdk-nag findings that are by design, each with its reason (the tests list them)."""
        for scope, finding, reason in acknowledgements(self):
            Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))
        Validations.of(self).acknowledge(
            Acknowledgment(
                id="CloudFormation-Validate::W7001",
                reason="aws-cdk-lib's Firehose module adds a region-to-CIDR mapping that only "
                "Redshift and Splunk destinations use; the lake's S3 destination leaves it unused",
            )
        )
