"""The data lake for BI: Firehose (Direct PUT) -> S3 as Parquet, a Glue table with partition
projection, and an Athena workgroup with the views BI tools read (see README.md here).

The table's columns come from kilowatch.lake.schema, the one definition the Lambda's records
and the tests share; the views' SQL comes from views/*.sql.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import (
    Acknowledgment,
    CfnElement,
    Duration,
    RemovalPolicy,
    Size,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from kilowatch.contract import ID_PATTERN
from kilowatch.lake.schema import PARTITIONS, TABLE_NAME, glue_columns
from kilowatch_cdk.datalake.views import views

DATA_PREFIX = "readings/"  # the table's location in the data bucket
ERRORS_PREFIX = "errors/"  # records Firehose could not partition or convert, by error type
RESULTS_PREFIX = "results/"  # Athena's query results, in the results bucket
VIEW_PREFIX = "kilowatch_"  # every view's name starts so (views/*.sql)
# Firehose fills these from each record (dynamic partitioning; see kilowatch.lake.schema).
PARTITIONED_PREFIX = (
    f"{DATA_PREFIX}plant=!{{partitionKeyFromQuery:plant}}/dt=!{{partitionKeyFromQuery:dt}}/"
)
ERROR_OUTPUT_PREFIX = f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"
PARTITION_QUERY = {"plant": ".plant", "dt": ".dt"}  # JQ 1.6, one query per partition key
FIRST_DATE = "2020-01-01"  # the earliest `dt` Athena's projection considers
# Local dates run up to 14 h ahead of UTC, so today's partition may be "tomorrow" in UTC.
LAST_DATE = "NOW+1DAYS"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
ATHENA_ENGINE = "Athena engine version 3"
# Defaults of DataLake's settings.
# Parquet files land at most this long after a reading. Longer: fewer, larger files (one per
# plant, day and interval), which Athena reads faster; 15 minutes is Firehose's longest.
BUFFERING_INTERVAL = Duration.minutes(15)
BUFFERING_SIZE = Size.mebibytes(128)  # or once this much arrived (dynamic partitioning: >= 64)
NONCURRENT_VERSION_EXPIRATION = Duration.days(30)  # overwritten/deleted objects kept this long
RESULTS_EXPIRATION = Duration.days(30)  # Athena query results kept this long
BYTES_SCANNED_CUTOFF_PER_QUERY = Size.gibibytes(10)  # Athena cancels larger queries
ERRORS_EXPIRATION = Duration.days(90)  # records Firehose could not convert


class DataLake(Construct):
    """Costed readings as Parquet in S3 (by plant and local date), queryable with Athena.

    The processing Lambda sends records to `delivery_stream` (kilowatch.lake.firehose); BI
    tools query the views in `database_name` through workgroup `workgroup_name`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        plants: Sequence[str] = (),
        name_prefix: str = "kilowatch",
        access_logs_bucket: s3.IBucket,
        buffering_interval: Duration = BUFFERING_INTERVAL,
        buffering_size: Size = BUFFERING_SIZE,
        noncurrent_version_expiration: Duration = NONCURRENT_VERSION_EXPIRATION,
        results_expiration: Duration = RESULTS_EXPIRATION,
        bytes_scanned_cutoff_per_query: Size = BYTES_SCANNED_CUTOFF_PER_QUERY,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """`plants`: the plant ids of the plant file. With them the table projects `plant` as
        an enum and every query may span plants; without them `plant` is injected, and every
        query (the views too) must then name its plants (`WHERE plant = 'hmo'`).
        `name_prefix` (letters, digits, - and _) names the Glue database and the workgroup,
        so that environments can share an account; `access_logs_bucket` receives the
        buckets' S3 server access logs."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        for plant in plants:
            if not ID_PATTERN.match(plant):
                raise ValueError(f"plant id {plant!r} is not a kilowatch id; fix the plant file")
        destroy = removal_policy == RemovalPolicy.DESTROY

        self.bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,  # one KMS call per object batch, not per object
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix="lake-data/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="old-versions",
                    noncurrent_version_expiration=noncurrent_version_expiration,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                s3.LifecycleRule(id="errors", prefix=ERRORS_PREFIX, expiration=ERRORS_EXPIRATION),
            ],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )

        self.database_name = _glue_name(f"{name_prefix}_lake")
        self.table_name = TABLE_NAME
        self.workgroup_name = f"{name_prefix}-bi"
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="kilowatch: costed meter readings and the views for BI tools",
            ),
        )
        database.apply_removal_policy(removal_policy)
        location = f"s3://{self.bucket.bucket_name}/{DATA_PREFIX}"
        self.table = glue.CfnTable(
            self,
            "Readings",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE_NAME,
                description="one row per costed reading (kilowatch.lake.schema.LakeRecord)",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "EXTERNAL": "TRUE",
                    "classification": "parquet",
                    "parquet.compression": "SNAPPY",
                    **_projection(location, plants),
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(**column) for column in glue_columns(PARTITIONS)
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(**column) for column in glue_columns()],
                    location=location,
                    input_format=PARQUET_INPUT,
                    output_format=PARQUET_OUTPUT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=PARQUET_SERDE,
                        parameters={"serialization.format": "1"},
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(database)
        self.table.apply_removal_policy(removal_policy)

        self.log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        # Firehose's role gets exactly what it needs (docs.aws.amazon.com/firehose/latest/
        # dev/controlling-access.html); CDK's own grants would add wildcard actions, so the
        # destination is given this role as one that takes no policy updates.
        self.delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com",
                conditions={"StringEquals": {"sts:ExternalId": stack.account}},
            ),
            description="kilowatch lake: Firehose writes Parquet to the data bucket",
        )
        self._delivery_policy(key)
        destination = firehose.S3Bucket(
            self.bucket,
            role=self.delivery_role.without_policy_updates(),
            encryption_key=key,
            data_output_prefix=PARTITIONED_PREFIX,
            error_output_prefix=ERROR_OUTPUT_PREFIX,
            file_extension=".parquet",
            buffering_interval=buffering_interval,
            buffering_size=buffering_size,  # dynamic partitioning needs >= 64 MiB
            dynamic_partitioning=firehose.DynamicPartitioningProps(
                enabled=True, retry_duration=Duration.minutes(5)
            ),
            processors=[
                # The Lambda packs up to 500 JSON lines in a Firehose record (Firehose bills
                # each record rounded up to 5 KB); this splits them before partitioning.
                firehose.RecordDeAggregationProcessor.json(),
                firehose.MetadataExtractionProcessor.jq16(PARTITION_QUERY),
            ],
            data_format_conversion=firehose.DataFormatConversionProps(
                schema_configuration=firehose.SchemaConfiguration.from_cfn_table(self.table),
                # Timestamps (`time`, `costed_at`) come as Unix milliseconds.
                input_format=firehose.HiveJsonInputFormat(
                    timestamp_parsers=[firehose.TimestampParser.EPOCH_MILLIS]
                ),
                output_format=firehose.ParquetOutputFormat(
                    compression=firehose.ParquetCompression.SNAPPY
                ),
            ),
            logging_config=firehose.EnableLogging(self.log_group),
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "Delivery",
            destination=destination,
            encryption=firehose.StreamEncryption.customer_managed_key(key),
            role=self.delivery_role.without_policy_updates(),
        )
        self.delivery_stream.node.add_dependency(self.delivery_role)  # its policy first

        self.results_bucket = s3.Bucket(
            self,
            "QueryResults",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix="lake-query-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=results_expiration,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description="kilowatch BI: Power BI (Athena ODBC), Grafana's Athena data source",
            state="ENABLED",
            recursive_delete_option=destroy,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,  # clients cannot bypass the encryption
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=int(bytes_scanned_cutoff_per_query.to_bytes()),
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ATHENA_ENGINE
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/{RESULTS_PREFIX}",
                    expected_bucket_owner=stack.account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                    acl_configuration=athena.CfnWorkGroup.AclConfigurationProperty(
                        s3_acl_option="BUCKET_OWNER_FULL_CONTROL"
                    ),
                ),
            ),
        )
        self.workgroup.apply_removal_policy(removal_policy)
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for view in views():
            query = athena.CfnNamedQuery(
                self,
                f"View-{view.name}",
                name=view.query_name,
                description=view.description,
                database=self.database_name,
                work_group=self.workgroup_name,
                query_string=view.statement,
            )
            query.node.add_dependency(self.workgroup, database)
            self.named_queries[view.name] = query
        self._key = key

    def grant_query(self, grantee: iam.IGrantable) -> None:
        """Let a BI client (Grafana's workspace role, Power BI's IAM user) query the views.

        Not granted: listing every catalog or workgroup of the account (those actions take no
        resource), so a client is given the workgroup's and database's names; and creating
        views (an administrator runs the named queries).
        """
        stack = Stack.of(self)
        glue_arn = f"arn:{stack.partition}:glue:{stack.region}:{stack.account}"
        athena_arn = f"arn:{stack.partition}:athena:{stack.region}:{stack.account}"
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "athena:GetWorkGroup",
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:GetQueryResultsStream",
                "athena:ListQueryExecutions",
                "athena:BatchGetQueryExecution",
                "athena:ListNamedQueries",
                "athena:GetNamedQuery",
                "athena:BatchGetNamedQuery",
            ],
            resource_arns=[f"{athena_arn}:workgroup/{self.workgroup_name}"],
        )
        # What BI tools' pickers read (databases, tables and their columns) in Glue's catalog.
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "athena:GetDataCatalog",
                "athena:ListDatabases",
                "athena:GetDatabase",
                "athena:ListTableMetadata",
                "athena:GetTableMetadata",
            ],
            resource_arns=[f"{athena_arn}:datacatalog/AwsDataCatalog"],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "glue:GetDatabase",
                "glue:GetDatabases",
                "glue:GetTable",
                "glue:GetTables",
                "glue:GetPartition",
                "glue:GetPartitions",
            ],
            resource_arns=[
                f"{glue_arn}:catalog",
                f"{glue_arn}:database/{self.database_name}",
                f"{glue_arn}:table/{self.database_name}/{TABLE_NAME}",
                f"{glue_arn}:table/{self.database_name}/{VIEW_PREFIX}*",  # the views
            ],
        )
        for actions, resources in (
            (["s3:GetBucketLocation", "s3:ListBucket"], [self.bucket.bucket_arn]),
            (["s3:GetObject"], [self.bucket.arn_for_objects(f"{DATA_PREFIX}*")]),
            (
                ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                [self.results_bucket.bucket_arn],
            ),
            (
                [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                [self.results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
            ),
            (["kms:Decrypt", "kms:GenerateDataKey"], [self._key.key_arn]),
        ):
            iam.Grant.add_to_principal(grantee=grantee, actions=actions, resource_arns=resources)
        if isinstance(grantee, Construct):
            data = f"<{_logical_id(self.bucket)}.Arn>/{DATA_PREFIX}*"
            results = f"<{_logical_id(self.results_bucket)}.Arn>/{RESULTS_PREFIX}*"
            # cdk-nag spells an unresolved region/account as a pseudo parameter.
            region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
            account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
            Validations.of(grantee).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{data}]",
                    reason="Athena reads every Parquet file of the partitions a query needs; "
                    "read-only, under readings/ of the lake bucket",
                ),
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::{results}]",
                    reason="Athena writes each query's results under a name it makes",
                ),
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:{region}:"
                    f"{account}:table/{self.database_name}/{VIEW_PREFIX}*]",
                    reason="the BI views, all named kilowatch_* (views/*.sql), are created "
                    "after deployment from the named queries",
                ),
            )

    def _delivery_policy(self, key: kms.IKey) -> None:
        """Firehose's permissions: write objects, read the table's schema, use the key, log."""
        stack = Stack.of(self)
        glue_arn = f"arn:{stack.partition}:glue:{stack.region}:{stack.account}"
        objects = [
            self.bucket.arn_for_objects(f"{prefix}*") for prefix in (DATA_PREFIX, ERRORS_PREFIX)
        ]
        for actions, resources in (
            (
                ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                [self.bucket.bucket_arn],
            ),
            (["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], objects),
            (
                ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                [
                    f"{glue_arn}:catalog",
                    f"{glue_arn}:database/{self.database_name}",
                    f"{glue_arn}:table/{self.database_name}/{TABLE_NAME}",
                ],
            ),
            (["kms:GenerateDataKey", "kms:Decrypt"], [key.key_arn]),
            (["logs:CreateLogStream", "logs:PutLogEvents"], [self.log_group.log_group_arn]),
        ):
            self.delivery_role.add_to_policy(
                iam.PolicyStatement(actions=actions, resources=resources)
            )
        bucket = f"<{_logical_id(self.bucket)}.Arn>"
        Validations.of(self.delivery_role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{bucket}/{DATA_PREFIX}*]",
                reason="Firehose writes objects under partition prefixes it makes from each "
                "record (plant=.../dt=...), unknown in advance; only under readings/",
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{bucket}/{ERRORS_PREFIX}*]",
                reason="Firehose writes the records it could not convert under "
                "errors/<type>/<date>/, names it makes; only under errors/",
            ),
        )


def _projection(location: str, plants: Sequence[str]) -> dict[str, str]:
    """Table parameters for Athena's partition projection: no crawler, no partition list."""
    if plants:
        plant = {"projection.plant.type": "enum", "projection.plant.values": ",".join(plants)}
    else:
        plant = {"projection.plant.type": "injected"}
    return {
        "projection.enabled": "true",
        **plant,
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{FIRST_DATE},{LAST_DATE}",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": location + "plant=${plant}/dt=${dt}/",
    }


def _logical_id(construct: Construct) -> str:
    """The CloudFormation logical id of a construct's resource, as cdk-nag names it."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnElement)
    return str(Stack.of(construct).resolve(Stack.of(construct).get_logical_id(resource)))


def _glue_name(name: str) -> str:
    """A Glue/Athena database name: lowercase letters, digits and underscores."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())
