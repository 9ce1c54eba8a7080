"""The data lake unit of the synthesized stack: Firehose -> Parquet on S3, the Glue table with
partition projection, Athena's workgroup and views, and least-privilege IAM.

These check the template; that Firehose, Glue and Athena behave as configured on AWS cannot
be shown offline. tests/lake/ runs the views' SQL on Parquet files written with this schema.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from kilowatch_cdk.datalake.infrastructure import (
    DATA_PREFIX,
    ERRORS_PREFIX,
    PARTITION_QUERY,
    _projection,
)
from kilowatch_cdk.datalake.views import views
from kilowatch_cdk.settings import KilowatchSettings
from kilowatch_cdk.stack import KilowatchStack

from kilowatch.config import load_config
from kilowatch.lake.schema import COLUMNS, PARTITION_KEYS, TABLE_NAME, glue_columns
from tests.cdk.helpers import logical_id, resources_of

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def stream(template_json: dict[str, Any]) -> dict[str, Any]:
    """The one delivery stream's properties."""
    (found,) = resources_of(template_json, "AWS::KinesisFirehose::DeliveryStream").values()
    return dict(found["Properties"])


@pytest.fixture(scope="module")
def table(template_json: dict[str, Any], stack: KilowatchStack) -> dict[str, Any]:
    """The readings table's TableInput."""
    tables = resources_of(template_json, "AWS::Glue::Table")
    return dict(tables[logical_id(stack, stack.lake.table)]["Properties"]["TableInput"])


def _ref(stack: KilowatchStack, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(stack, construct), "Arn"]}


def test_firehose_takes_direct_puts_encrypted_with_the_stacks_key(
    stream: dict[str, Any], stack: KilowatchStack
) -> None:
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {
        "KeyARN": _ref(stack, stack.key),
        "KeyType": "CUSTOMER_MANAGED_CMK",
    }
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == _ref(stack, stack.lake.bucket)
    assert destination["EncryptionConfiguration"] == {
        "KMSEncryptionConfig": {"AWSKMSKeyARN": _ref(stack, stack.key)}
    }
    assert destination["CloudWatchLoggingOptions"]["Enabled"] is True


def test_firehose_partitions_by_plant_and_local_date_from_each_record(
    stream: dict[str, Any],
) -> None:
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["Prefix"] == (
        "readings/plant=!{partitionKeyFromQuery:plant}/dt=!{partitionKeyFromQuery:dt}/"
    )
    assert destination["ErrorOutputPrefix"].startswith(
        ERRORS_PREFIX + "!{firehose:error-output-type}"
    )
    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    processors = destination["ProcessingConfiguration"]["Processors"]
    # Deaggregation first: the Lambda packs many JSON lines into one Firehose record.
    assert [p["Type"] for p in processors] == ["RecordDeAggregation", "MetadataExtraction"]
    assert {"ParameterName": "SubRecordType", "ParameterValue": "JSON"} in processors[0][
        "Parameters"
    ]
    params = {p["ParameterName"]: p["ParameterValue"] for p in processors[1]["Parameters"]}
    assert params["JsonParsingEngine"] == "JQ-1.6"
    query = params["MetadataExtractionQuery"]
    assert set(re.findall(r"\"?(\w+)\"?:\s*\.(\w+)", query)) == {(k, k) for k in PARTITION_KEYS}
    assert {key: f".{key}" for key in PARTITION_KEYS} == PARTITION_QUERY
    # Dynamic partitioning needs a buffer of at least 64 MiB.
    assert destination["BufferingHints"]["SizeInMBs"] >= 64
    assert destination["BufferingHints"]["IntervalInSeconds"] <= 900


def test_firehose_converts_json_to_parquet_against_the_glue_table(
    stream: dict[str, Any], stack: KilowatchStack
) -> None:
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["FileExtension"] == ".parquet"
    assert "CompressionFormat" not in destination  # Parquet compresses its own pages
    conversion = destination["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    # `time` and `costed_at` travel as Unix milliseconds (kilowatch.lake.schema).
    assert conversion["InputFormatConfiguration"] == {
        "Deserializer": {"HiveJsonSerDe": {"TimestampFormats": ["millis"]}}
    }
    assert conversion["OutputFormatConfiguration"] == {
        "Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}
    }
    schema = conversion["SchemaConfiguration"]
    assert schema["DatabaseName"] == stack.lake.database_name
    assert schema["TableName"] == {"Ref": logical_id(stack, stack.lake.table)}
    assert schema["RoleARN"] == _ref(stack, stack.lake.delivery_role)


def test_the_glue_table_has_the_schemas_columns_and_partition_keys(table: dict[str, Any]) -> None:
    assert table["Name"] == TABLE_NAME
    descriptor = table["StorageDescriptor"]
    assert descriptor["Columns"] == [
        {"Name": c["name"], "Type": c["type"], "Comment": c["comment"]} for c in glue_columns()
    ]
    assert [c["Name"] for c in descriptor["Columns"]] == [c.name for c in COLUMNS]
    assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [
        ("plant", "string"),
        ("dt", "string"),
    ]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert descriptor["InputFormat"].endswith("MapredParquetInputFormat")
    assert descriptor["Location"]["Fn::Join"][1][-1] == f"/{DATA_PREFIX}"


def test_partition_projection_matches_what_firehose_writes(
    table: dict[str, Any], stream: dict[str, Any], cdk_settings: KilowatchSettings
) -> None:
    """No crawler: Athena computes the partitions, so its template must be Firehose's prefix."""
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.range"].endswith(",NOW+1DAYS")  # local dates run ahead of UTC
    assert params["projection.dt.interval.unit"] == "DAYS"
    plants = [p.id for p in load_config(cdk_settings.plant_file_path).plants]
    assert params["projection.plant.type"] == "enum"
    assert params["projection.plant.values"].split(",") == plants
    template = "".join(
        part for part in params["storage.location.template"]["Fn::Join"][1] if isinstance(part, str)
    )
    prefix = stream["ExtendedS3DestinationConfiguration"]["Prefix"]
    assert template.endswith(re.sub(r"!\{partitionKeyFromQuery:(\w+)\}", r"${\1}", prefix))


def test_without_plants_the_plant_partition_is_injected() -> None:
    """A stack without a plant list still works; queries must then name their plants."""
    params = _projection("s3://b/readings/", [])
    assert params["projection.plant.type"] == "injected"
    assert "projection.plant.values" not in params


def test_the_data_bucket_is_encrypted_versioned_logged_and_tls_only(
    template: Template, template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    bucket = resources_of(template_json, "AWS::S3::Bucket")[logical_id(stack, stack.lake.bucket)]
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == _ref(stack, stack.key)
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": logical_id(stack, stack.access_logs)
    }
    assert all(props["PublicAccessBlockConfiguration"].values())
    lifecycle = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"] if "Id" in r}
    assert lifecycle["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    assert lifecycle["errors"]["Prefix"] == ERRORS_PREFIX
    assert bucket["DeletionPolicy"] == "Retain"
    for lake_bucket in (stack.lake.bucket, stack.lake.results_bucket):
        template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": logical_id(stack, lake_bucket)},
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
                },
            },
        )


def test_athena_workgroup_enforces_encrypted_results(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    (workgroup,) = resources_of(template_json, "AWS::Athena::WorkGroup").values()
    props = workgroup["Properties"]
    assert props["Name"] == stack.lake.workgroup_name
    config = props["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    assert config["BytesScannedCutoffPerQuery"] >= 10 * MIB
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": _ref(stack, stack.key),
    }
    assert {"Ref": logical_id(stack, stack.lake.results_bucket)} in results["OutputLocation"][
        "Fn::Join"
    ][1]
    bucket = resources_of(template_json, "AWS::S3::Bucket")[
        logical_id(stack, stack.lake.results_bucket)
    ]["Properties"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0


def test_every_view_is_a_named_query_of_its_sql_file(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in resources_of(template_json, "AWS::Athena::NamedQuery").values()
    }
    expected = views()
    assert sorted(queries) == [v.query_name for v in expected]  # creation order
    assert {v.name for v in expected} == {
        "kilowatch_readings",
        "kilowatch_daily",
        "kilowatch_daily_by_period",
        "kilowatch_monthly",
        "kilowatch_bill_so_far",
    }
    for view in expected:
        query = queries[view.query_name]
        assert query["QueryString"] == view.statement
        assert query["Database"] == stack.lake.database_name
        assert query["WorkGroup"] == stack.lake.workgroup_name
        assert "demand" in query["Description"] or view.name in {
            "kilowatch_readings",
            "kilowatch_daily_by_period",
        }


def test_firehose_role_has_no_wildcard_actions(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    role = logical_id(stack, stack.lake.delivery_role)
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    assert len(policies) == 1, "the delivery role's one policy (CDK's grants are kept out)"
    actions = {a for s in policies[0] for a in _listed(s["Action"])}
    assert not [a for a in actions if "*" in a]
    assert {"s3:PutObject", "glue:GetTableVersions", "kms:GenerateDataKey"} <= actions
    assert "s3:DeleteObject" not in actions
    trust = resources_of(template_json, "AWS::IAM::Role")[role]["Properties"]
    (statement,) = trust["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert "sts:ExternalId" in statement["Condition"]["StringEquals"]


def test_the_lambda_may_put_records_and_knows_the_stream(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    stream_id = logical_id(stack, stack.lake.delivery_stream)
    function = resources_of(template_json, "AWS::Lambda::Function")[
        logical_id(stack, stack.processing.function)
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["KILOWATCH_FIREHOSE_STREAM"] == {"Ref": stream_id}
    granted = [
        s
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Resource") == {"Fn::GetAtt": [stream_id, "Arn"]}
    ]
    assert any("firehose:PutRecordBatch" in _listed(s["Action"]) for s in granted)


def test_bi_clients_get_query_rights_without_wildcard_actions(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    """Grafana's workspace role queries the lake (grant_query)."""
    role = stack.storage.grafana_role
    assert role is not None
    statements = [
        s
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if {"Ref": logical_id(stack, role)} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in _listed(s["Action"])}
    assert {
        "athena:StartQueryExecution",
        "athena:ListTableMetadata",
        "glue:GetTable",
        "s3:GetObject",
        "kms:Decrypt",
    } <= actions
    lake_actions = [a for a in actions if a.split(":")[0] in {"athena", "glue", "s3"}]
    assert not [a for a in lake_actions if "*" in a]


def test_no_cdk_nag_finding_in_the_data_lake(nag_report: dict[str, Any]) -> None:
    """Every AwsSolutions finding of the lake is acknowledged, with its reason, in the code."""
    findings = [
        violation
        for plugin in nag_report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        if any(
            "/DataLake/" in v.get("constructPath", "")
            for v in violation.get("violatingConstructs", [])
        )
    ]
    assert findings == []


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value
