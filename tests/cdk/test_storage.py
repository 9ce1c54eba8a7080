"""VPC without NAT, Timestream for InfluxDB in private subnets, its secrets and setup, Grafana."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from kilowatch_cdk.stack import KilowatchStack
from kilowatch_cdk.storage.infrastructure import Storage

from tests.cdk.helpers import logical_id, resources_of


def test_vpc_has_only_isolated_subnets_and_no_nat(template_json: dict[str, Any]) -> None:
    assert resources_of(template_json, "AWS::EC2::NatGateway") == {}
    assert resources_of(template_json, "AWS::EC2::InternetGateway") == {}
    subnets = resources_of(template_json, "AWS::EC2::Subnet").values()
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets)


def test_vpc_logs_rejected_traffic(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "REJECT", "LogDestinationType": "cloud-watch-logs"}
    )


def test_interface_endpoints_cover_every_service_the_functions_call(
    template_json: dict[str, Any],
) -> None:
    endpoints = resources_of(template_json, "AWS::EC2::VPCEndpoint").values()
    interface = {
        e["Properties"]["ServiceName"]: e["Properties"]["PrivateDnsEnabled"]
        for e in endpoints
        if e["Properties"].get("VpcEndpointType", "Interface") == "Interface"
    }
    assert interface == {
        "com.amazonaws.us-east-1.secretsmanager": True,
        "com.amazonaws.us-east-1.kinesis-firehose": True,
        "com.amazonaws.us-east-1.iot.data": False,  # named by the private zone instead
        "com.amazonaws.us-east-1.athena": True,
    }


def test_iot_data_endpoint_resolves_to_the_vpc_endpoint(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource_properties(
        "AWS::Route53::HostedZone",
        {
            "Name": Match.any_value(),
            "VPCs": [Match.object_like({"VPCId": {"Ref": logical_id(stack, stack.storage.vpc)}})],
        },
    )
    template.has_resource_properties(
        "AWS::Route53::RecordSet", {"Type": "A", "AliasTarget": Match.any_value()}
    )


def test_influxdb_is_private_in_its_subnets_and_group(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    (instance,) = resources_of(template_json, "AWS::Timestream::InfluxDBInstance").values()
    props = instance["Properties"]
    assert props["PubliclyAccessible"] is False
    assert props["DbInstanceType"] == "db.influx.medium"
    assert props["DbStorageType"] == "InfluxIOIncludedT1"
    assert props["AllocatedStorage"] == 20
    assert props["DeploymentType"] == "SINGLE_AZ"
    assert props["Organization"] == props["Bucket"] == "kilowatch"
    assert props["Port"] == 8086
    private = {logical_id(stack, s) for s in stack.storage.vpc.isolated_subnets}
    assert {ref["Ref"] for ref in props["VpcSubnetIds"]} == private
    group = logical_id(stack, stack.storage.influx_security_group)
    assert props["VpcSecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    assert instance["DeletionPolicy"] == "Retain"


def test_influxdb_password_is_resolved_from_secrets_manager_not_written(
    template_json: dict[str, Any],
) -> None:
    (instance,) = resources_of(template_json, "AWS::Timestream::InfluxDBInstance").values()
    password = json.dumps(instance["Properties"]["Password"])
    assert "{{resolve:secretsmanager:" in password
    assert ":SecretString:password::}}" in password


def test_influxdb_accepts_only_its_clients_on_8086(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    influx = logical_id(stack, stack.storage.influx_security_group)
    clients = logical_id(stack, stack.storage.client_security_group)
    ingress = [
        r["Properties"]
        for r in resources_of(template_json, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [influx, "GroupId"]}
    ]
    assert ingress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 8086,
            "ToPort": 8086,
            "Description": "InfluxDB API from kilowatch clients",
            "GroupId": {"Fn::GetAtt": [influx, "GroupId"]},
            "SourceSecurityGroupId": {"Fn::GetAtt": [clients, "GroupId"]},
        }
    ]
    groups = resources_of(template_json, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in groups[influx]["Properties"]
    # No group lets anything in from outside the VPC (egress has no route out: no NAT, no IGW).
    inbound = [g["Properties"].get("SecurityGroupIngress", []) for g in groups.values()]
    inbound += [
        r["Properties"]
        for r in resources_of(template_json, "AWS::EC2::SecurityGroupIngress").values()
    ]
    assert "0.0.0.0/0" not in json.dumps(inbound)


def test_secrets_are_encrypted_with_the_stacks_key(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    secrets = resources_of(template_json, "AWS::SecretsManager::Secret")
    key = {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]}
    assert len(secrets) == 3
    assert all(s["Properties"]["KmsKeyId"] == key for s in secrets.values())
    assert all(s["DeletionPolicy"] == "Retain" for s in secrets.values())


def test_setup_maps_the_dbrp_and_writes_both_tokens(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource(
        "Custom::KilowatchInfluxSetup",
        {
            "Properties": {
                "Organization": "kilowatch",
                "Bucket": "kilowatch",
                "AdminSecretArn": {"Ref": logical_id(stack, stack.storage.admin_secret)},
                "WriterSecretArn": {"Ref": logical_id(stack, stack.storage.writer_token_secret)},
                "ReaderSecretArn": {"Ref": logical_id(stack, stack.storage.reader_token_secret)},
                "Version": "1",
            },
            "DependsOn": Match.array_with([logical_id(stack, stack.storage.influx)]),
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "influx_setup.on_event",
            "VpcConfig": Match.object_like({"SubnetIds": Match.any_value()}),
        },
    )


def test_grafana_workspace_is_service_managed_in_the_vpc(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource_properties(
        "AWS::Grafana::Workspace",
        {
            "AccountAccessType": "CURRENT_ACCOUNT",
            "AuthenticationProviders": ["AWS_SSO"],
            "PermissionType": "SERVICE_MANAGED",
            "DataSources": ["ATHENA"],
            "NotificationDestinations": ["SNS"],
            "PluginAdminEnabled": False,
            "RoleArn": {"Fn::GetAtt": [logical_id(stack, stack.storage.grafana_role), "Arn"]},
            "VpcConfiguration": {
                "SecurityGroupIds": [
                    {
                        "Fn::GetAtt": [
                            logical_id(stack, stack.storage.client_security_group),
                            "GroupId",
                        ]
                    }
                ],
                "SubnetIds": Match.any_value(),
            },
        },
    )


def test_grafana_role_may_query_the_lake_workgroup_only(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    role = stack.storage.grafana_role
    assert role is not None
    policy = template_json["Resources"][logical_id(stack, role.node.find_child("DefaultPolicy"))]
    text = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "athena:StartQueryExecution" in text
    assert f":workgroup/{stack.lake.workgroup_name}" in text
    assert '"Action": "*"' not in text


@pytest.fixture(scope="module")
def with_sentry() -> Template:
    """Storage alone, as a stack with a Sentry DSN builds it (internet egress), no Grafana."""
    app = App()
    stack = Stack(app, "SentryVariant", env=Environment(account="123456789012", region="us-east-1"))
    key = kms.Key(stack, "Key")
    Storage(
        stack,
        "Storage",
        key=key,
        resource_prefix="kilowatch-t",
        vpc_cidr="10.40.0.0/16",
        max_azs=2,
        internet_egress=True,
        iot_data_endpoint="abc-ats.iot.us-east-1.amazonaws.com",
        influx_instance_type="db.influx.medium",
        influx_storage_gb=20,
        influx_multi_az=True,
        influx_org="kilowatch",
        influx_bucket="kilowatch",
        with_grafana=False,
        access_logs_bucket=s3.Bucket(stack, "Logs"),
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return Template.from_stack(stack)


def test_sentry_adds_one_nat_gateway_and_https_egress_only(with_sentry: Template) -> None:
    with_sentry.resource_count_is("AWS::EC2::NatGateway", 1)
    with_sentry.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": Match.string_like_regexp("functions and Grafana"),
            "SecurityGroupEgress": Match.array_with(
                [Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443})]
            ),
        },
    )
    with_sentry.has_resource_properties(
        "AWS::Timestream::InfluxDBInstance", {"DeploymentType": "WITH_MULTIAZ_STANDBY"}
    )
    with_sentry.resource_count_is("AWS::Grafana::Workspace", 0)
    with_sentry.resource_count_is("AWS::EC2::VPCEndpoint", 3)  # no Athena without Grafana
