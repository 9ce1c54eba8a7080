"""Where readings are kept and seen: VPC, Timestream for InfluxDB, its tokens, Managed Grafana."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_grafana as grafana
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_timestream as timestream
from aws_cdk import custom_resources as cr
from constructs import Construct

INFLUX_PORT = 8086
SETUP_RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
# Bump to run the setup custom resource again on the next deploy (it is idempotent).
SETUP_VERSION = "1"


class Storage(Construct):
    """The private network, the managed InfluxDB with its secrets, and the Grafana workspace."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        resource_prefix: str,
        vpc_cidr: str,
        max_azs: int,
        internet_egress: bool,
        iot_data_endpoint: str,
        influx_instance_type: str,
        influx_storage_gb: int,
        influx_multi_az: bool,
        influx_org: str,
        influx_bucket: str,
        with_grafana: bool,
        access_logs_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        # No NAT gateway unless something must reach the internet (Sentry): every AWS service the
        # functions call has an interface endpoint below, so the data path never leaves AWS.
        private_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS
            if internet_egress
            else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [ec2.SubnetConfiguration(name="private", subnet_type=private_type, cidr_mask=22)]
        if internet_egress:
            subnets.append(
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26
                )
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(vpc_cidr),
            max_azs=max_azs,
            nat_gateways=1 if internet_egress else 0,
            subnet_configuration=subnets,
            # Nothing uses the default group; restricting it would need a custom resource.
            restrict_default_security_group=False,
        )
        self.subnets = ec2.SubnetSelection(subnet_type=private_type)
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        # Clients of InfluxDB (the processing Lambda, setup, Grafana, workflows) share this group.
        self.client_security_group = ec2.SecurityGroup(
            self, "InfluxClients", vpc=self.vpc, allow_all_outbound=False,
            description="kilowatch functions and Grafana: to InfluxDB and the AWS endpoints",
        )  # fmt: skip
        self.influx_security_group = ec2.SecurityGroup(
            self, "Influx", vpc=self.vpc, allow_all_outbound=False,
            description="Timestream for InfluxDB: HTTPS 8086 from kilowatch clients only",
        )  # fmt: skip
        self.influx_security_group.add_ingress_rule(
            self.client_security_group,
            ec2.Port.tcp(INFLUX_PORT),
            "InfluxDB API from kilowatch clients",
        )
        self.client_security_group.add_egress_rule(
            self.influx_security_group, ec2.Port.tcp(INFLUX_PORT), "InfluxDB API"
        )
        endpoint_security_group = ec2.SecurityGroup(
            self, "Endpoints", vpc=self.vpc, allow_all_outbound=False,
            description="interface endpoints: HTTPS from kilowatch clients only",
        )  # fmt: skip
        endpoint_security_group.add_ingress_rule(
            self.client_security_group, ec2.Port.HTTPS, "AWS APIs"
        )
        self.client_security_group.add_egress_rule(
            endpoint_security_group, ec2.Port.HTTPS, "AWS APIs"
        )
        if internet_egress:
            self.client_security_group.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.HTTPS, "Sentry (through the NAT gateway)"
            )
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        services = [
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER, True),
            ("Firehose", ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE, True),
            # IoT Core's data-plane endpoint has no private DNS: a private zone below names it.
            ("IotData", ec2.InterfaceVpcEndpointAwsService.IOT_CORE, False),
        ]
        if with_grafana:  # a workspace in a VPC reaches its AWS data sources through the VPC too
            services.append(("Athena", ec2.InterfaceVpcEndpointAwsService.ATHENA, True))
        for name, service, private_dns in services:
            self.endpoints[name] = self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=private_dns,
                subnets=self.subnets,
                security_groups=[endpoint_security_group],
                open=False,
            )
        zone = route53.PrivateHostedZone(
            self, "IotDataZone", zone_name=iot_data_endpoint, vpc=self.vpc
        )
        route53.ARecord(
            self,
            "IotDataRecord",
            zone=zone,
            target=route53.RecordTarget.from_alias(
                targets.InterfaceVpcEndpointTarget(self.endpoints["IotData"])
            ),
        )

        # The admin password never appears in the template: CloudFormation resolves it from here.
        self.admin_secret = secretsmanager.Secret(
            self,
            "InfluxAdmin",
            description="Timestream for InfluxDB admin user (setup only; clients use tokens)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"username": "kilowatch-admin"}',
                generate_string_key="password",
                exclude_punctuation=True,
                password_length=32,
            ),
            removal_policy=removal_policy,
        )
        self.influx = timestream.CfnInfluxDBInstance(
            self,
            "InfluxDB",
            name=f"{resource_prefix}-influx",
            db_instance_type=influx_instance_type,
            db_storage_type="InfluxIOIncludedT1",
            allocated_storage=influx_storage_gb,
            deployment_type="WITH_MULTIAZ_STANDBY" if influx_multi_az else "SINGLE_AZ",
            publicly_accessible=False,
            vpc_subnet_ids=self.vpc.select_subnets(subnet_type=private_type).subnet_ids,
            vpc_security_group_ids=[self.influx_security_group.security_group_id],
            username=self.admin_secret.secret_value_from_json("username").unsafe_unwrap(),
            password=self.admin_secret.secret_value_from_json("password").unsafe_unwrap(),
            organization=influx_org,
            bucket=influx_bucket,
            port=INFLUX_PORT,
            log_delivery_configuration=timestream.CfnInfluxDBInstance.LogDeliveryConfigurationProperty(
                s3_configuration=timestream.CfnInfluxDBInstance.S3ConfigurationProperty(
                    bucket_name=access_logs_bucket.bucket_name, enabled=True
                )
            ),
        )
        self.influx.apply_removal_policy(removal_policy)  # Timestream has no Snapshot policy
        # Timestream delivers the engine's logs to this bucket.
        access_logs_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                principals=[iam.ServicePrincipal("timestream-influxdb.amazonaws.com")],
                resources=[access_logs_bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.influx_url = f"https://{self.influx.attr_endpoint}:{INFLUX_PORT}"
        self.influx_org = influx_org
        self.influx_bucket = influx_bucket

        # Tokens: the setup custom resource replaces the placeholder with a real token.
        self.writer_token_secret = self._token_secret(
            "InfluxWriterToken", "write", key, removal_policy
        )
        self.reader_token_secret = self._token_secret(
            "InfluxReaderToken", "read", key, removal_policy
        )
        self.setup = self._setup_resource(
            key=key, log_retention=log_retention, removal_policy=removal_policy
        )

        self.grafana_workspace: grafana.CfnWorkspace | None = None
        self.grafana_role: iam.Role | None = None
        if with_grafana:
            self._grafana(resource_prefix)

    def _token_secret(
        self, construct_id: str, access: str, key: kms.IKey, removal_policy: RemovalPolicy
    ) -> secretsmanager.Secret:
        return secretsmanager.Secret(
            self,
            construct_id,
            description=f"InfluxDB API token, {access} access to the bucket (set by setup)",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # url/org/bucket let a client connect from the secret alone.
                secret_string_template=Stack.of(self).to_json_string(
                    {"url": self.influx_url, "org": self.influx_org, "bucket": self.influx_bucket}
                ),
                generate_string_key="placeholder",
                password_length=16,
            ),
            removal_policy=removal_policy,
        )

    def _setup_resource(
        self, *, key: kms.IKey, log_retention: logs.RetentionDays, removal_policy: RemovalPolicy
    ) -> CustomResource:
        log_group = logs.LogGroup(
            self,
            "SetupLogs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        function = lambda_.Function(
            self,
            "SetupFunction",
            description="kilowatch: DBRP mapping and API tokens on the new InfluxDB instance",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="influx_setup.on_event",
            code=lambda_.Code.from_asset(str(SETUP_RUNTIME_DIR), exclude=["__pycache__"]),
            timeout=Duration.minutes(2),
            memory_size=256,
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_groups=[self.client_security_group],
            log_group=log_group,
        )
        self.admin_secret.grant_read(function)
        for secret in (self.writer_token_secret, self.reader_token_secret):
            secret.grant_read(function)
        # Storing a token: PutSecretValue, and a data key made through Secrets Manager (CDK's
        # grant_write adds UpdateSecret and kms:ReEncrypt*/GenerateDataKey* the setup never uses).
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["secretsmanager:PutSecretValue"],
            resource_arns=[
                self.writer_token_secret.secret_arn,
                self.reader_token_secret.secret_arn,
            ],
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{Stack.of(self).region}.amazonaws.com"
                    }
                },
            )
        )
        provider = cr.Provider(
            self, "SetupProvider", on_event_handler=function, log_group=log_group
        )
        resource = CustomResource(
            self,
            "Setup",
            service_token=provider.service_token,
            resource_type="Custom::KilowatchInfluxSetup",
            properties={
                "Url": self.influx_url,
                "Organization": self.influx_org,
                "Bucket": self.influx_bucket,
                "AdminSecretArn": self.admin_secret.secret_arn,
                "WriterSecretArn": self.writer_token_secret.secret_arn,
                "ReaderSecretArn": self.reader_token_secret.secret_arn,
                "Version": SETUP_VERSION,
            },
        )
        resource.node.add_dependency(self.influx)
        for endpoint in self.endpoints.values():
            resource.node.add_dependency(endpoint)
        return resource

    def _grafana(self, resource_prefix: str) -> None:
        # Service-managed permissions: this role is what the workspace's AWS data sources use
        # (the stack grants it read access to the data lake's Athena workgroup).
        self.grafana_role = iam.Role(
            self,
            "GrafanaRole",
            assumed_by=iam.ServicePrincipal("grafana.amazonaws.com"),
            description="Amazon Managed Grafana: read the data lake through Athena",
        )
        self.grafana_workspace = grafana.CfnWorkspace(
            self,
            "Grafana",
            name=resource_prefix,
            description="kilowatch dashboards (InfluxDB) and BI views (Athena)",
            account_access_type="CURRENT_ACCOUNT",
            authentication_providers=["AWS_SSO"],
            permission_type="SERVICE_MANAGED",
            data_sources=["ATHENA"],
            notification_destinations=["SNS"],
            role_arn=self.grafana_role.role_arn,
            plugin_admin_enabled=False,
            # In the VPC so it reaches the private InfluxDB (the InfluxDB source is added through
            # Grafana's API: `kilowatch aws grafana-sources`).
            vpc_configuration=grafana.CfnWorkspace.VpcConfigurationProperty(
                security_group_ids=[self.client_security_group.security_group_id],
                subnet_ids=self.vpc.select_subnets(subnet_group_name="private").subnet_ids,
            ),
        )
