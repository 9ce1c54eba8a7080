"""The Step Functions workflows: synthesized in a small stack of their own (one synth for the
module), their definitions parsed from DefinitionString and checked state by state.

What a template cannot show: that the tasks run (tests/sfn/test_orchestration_tasks.py runs
the handlers against moto S3 and InfluxDB 1.x). moto's Step Functions parses each definition
(its ASL parser rejects what AWS would) but cannot run their Lambda tasks (Docker).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
CDK_DIR = Path(__file__).resolve().parents[2] / "cdk"
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))

from aws_cdk import App, Environment, RemovalPolicy, Stack, Validations  # noqa: E402
from aws_cdk import aws_ec2 as ec2  # noqa: E402
from aws_cdk import aws_kms as kms  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from aws_cdk import aws_s3 as s3  # noqa: E402
from aws_cdk import aws_secretsmanager as secretsmanager  # noqa: E402
from aws_cdk import aws_sns as sns  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402
from kilowatch_cdk.orchestration.assets import TASK_ASSETS  # noqa: E402
from kilowatch_cdk.orchestration.infrastructure import (  # noqa: E402
    DISTRIBUTED_AFTER_DAYS,
    RUNTIME_DIR,
    TASKS,
    TRANSIENT_ERRORS,
    Orchestration,
)


@pytest.fixture(scope="module")
def unit_synthesis(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Orchestration, Stack, Template, list[Any]]:
    """One synth of Orchestration in a test stack with its own key, VPC, secret and topic,
    checked by cdk-nag's AwsSolutions rules (their findings: the fourth item)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir))
    stack = Stack(
        app, "OrchestrationTest", env=Environment(account="123456789012", region="eu-west-1")
    )
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        ],
    )
    orchestration = Orchestration(
        stack,
        "Orchestration",
        key=kms.Key(stack, "Key"),
        lambda_code=lambda_.Code.from_asset(str(RUNTIME_DIR)),
        lambda_environment={"KILOWATCH_CONFIG": "/var/task/config/kilowatch.yaml"},
        vpc=vpc,
        subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_group=ec2.SecurityGroup(stack, "Clients", vpc=vpc),
        influx_secret=secretsmanager.Secret(stack, "Token"),
        alarm_topic=sns.Topic(stack, "Alarms"),
        access_logs_bucket=s3.Bucket(stack, "AccessLogs"),
        removal_policy=RemovalPolicy.DESTROY,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # Findings raise (the test stack's own stand-ins have some): they are read below.
    with contextlib.suppress(RuntimeError):
        app.synth()
    template = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
    report = outdir / "validation-report.json"
    findings = [
        (violation["ruleName"], construct["constructPath"])
        for plugin in (json.loads(report.read_text())["pluginReports"] if report.exists() else [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]
    return orchestration, stack, Template.from_json(template), findings


@pytest.fixture(scope="module")
def synth(unit_synthesis: Any) -> tuple[Orchestration, Stack, Template]:
    """The construct, its stack and the template."""
    return unit_synthesis[:3]


def test_no_cdk_nag_finding_is_left_in_the_unit(unit_synthesis: Any) -> None:
    """By-design findings are acknowledged with reasons in Orchestration._acknowledge."""
    ours = [
        f for f in unit_synthesis[3] if "/Orchestration/" in f[1] or "BucketNotifications" in f[1]
    ]
    assert ours == []


def _definition(template: Template, name: str, token: str | None = None) -> dict[str, Any]:
    """A state machine's ASL, parsed from its DefinitionString (Fn::Join of text and refs;
    each ref shown as its JSON, or as `token` when given)."""
    machines = template.find_resources(
        "AWS::StepFunctions::StateMachine", {"Properties": {"StateMachineName": name}}
    )
    assert len(machines) == 1, name
    body = next(iter(machines.values()))["Properties"]["DefinitionString"]
    if isinstance(body, dict):
        parts = body["Fn::Join"][1]
        body = "".join(
            p if isinstance(p, str) else token or json.dumps(p).replace('"', "'") for p in parts
        )
    return json.loads(body)


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, nested ones (Map item processors) included, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(_states(processor))
    return found


def _lambda_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in _states(definition).items()
        if s["Type"] == "Task" and s["Resource"].endswith(":lambda:invoke")
    }


MACHINES = ["kilowatch-client-data", "kilowatch-monthly-billing", "kilowatch-recost"]


def _path(definition: dict[str, Any], state: str, choice: int | None) -> list[str]:
    """The states from `state` on, following Next; at a Choice, its `choice`th rule (None: its
    Default)."""
    order = []
    while state:
        order.append(state)
        current = definition["States"][state]
        if current["Type"] == "Choice":
            state = current["Default"] if choice is None else current["Choices"][choice]["Next"]
        else:
            state = current.get("Next")
    return order


def test_client_data_runs_validate_load_indicators_then_notifies(synth: Any) -> None:
    definition = _definition(synth[2], "kilowatch-client-data")
    assert definition["StartAt"] == "Validate"
    assert _path(definition, "Validate", None) == [
        "Validate",
        "Bills or data?",
        "Load",
        "Indicators",
        "Summarize",
        "Notify",
    ]
    notify = definition["States"]["Notify"]
    assert notify["Resource"].endswith(":sns:publish")
    assert notify["Parameters"]["Message.$"] == "$.summarize.summary"
    assert notify["Retry"][0]["MaxAttempts"] == 3 and notify["TimeoutSeconds"] == 30


def test_bill_uploads_are_reconciled_instead_of_loaded(synth: Any) -> None:
    """uploads/{plant}/bills/{file}: validate's summary says kind "bills" (a Green Button file
    there is kind "greenbutton": loaded), and the Choice sends it to Reconcile."""
    definition = _definition(synth[2], "kilowatch-client-data")
    route = definition["States"]["Bills or data?"]
    assert route["Type"] == "Choice" and route["Default"] == "Load"
    (rule,) = route["Choices"]
    assert rule == {
        "Variable": "$.validate.summary.kind",
        "StringEquals": "bills",
        "Next": "Reconcile",
    }
    assert _path(definition, "Validate", 0) == [
        "Validate",
        "Bills or data?",
        "Reconcile",
        "Summarize",
        "Notify",
    ]
    reconcile = definition["States"]["Reconcile"]
    assert reconcile["Parameters"]["Payload"] == {
        "validated.$": "$.validate.summary",
        "execution.$": "$$.Execution.Name",
    }
    assert reconcile["ResultPath"] == "$.reconcile"
    assert reconcile["Catch"][0]["Next"] == definition["States"]["Load"]["Catch"][0]["Next"]


@pytest.mark.parametrize("name", MACHINES)
def test_every_lambda_task_retries_transient_errors_with_backoff(synth: Any, name: str) -> None:
    for state_name, state in _lambda_tasks(_definition(synth[2], name)).items():
        (retry,) = state["Retry"]
        assert set(retry["ErrorEquals"]) == set(TRANSIENT_ERRORS), state_name
        assert retry["BackoffRate"] == 2 and retry["MaxAttempts"] == 5
        assert retry["IntervalSeconds"] == 2 and retry["MaxDelaySeconds"] == 60
        assert retry["JitterStrategy"] == "FULL"
        assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]


@pytest.mark.parametrize("name", MACHINES)
def test_every_lambda_task_has_a_timeout_and_a_small_result(synth: Any, name: str) -> None:
    for state_name, state in _lambda_tasks(_definition(synth[2], name)).items():
        assert 60 <= state["TimeoutSeconds"] <= 15 * 60 + 30, state_name
        assert state["ResultSelector"] == {
            "summary.$": "$.Payload.summary",
            "results.$": "$.Payload.results",
        }


@pytest.mark.parametrize("name", MACHINES)
def test_every_failure_is_caught_recorded_with_its_input_and_fails_with_its_error(
    synth: Any, name: str
) -> None:
    states = _states(_definition(synth[2], name))
    for state_name, state in _lambda_tasks({"States": states}).items():
        if "(distributed)" in state_name:
            continue
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
        record = states[catch["Next"]]
        assert record["Resource"].endswith(":aws-sdk:s3:putObject")
        assert record["Parameters"]["Body.$"] == "$"  # the input, with the error in $.error
        assert record["Parameters"]["Key.$"].startswith("States.Format('failures/")
        fail = states[record["Next"]]
        assert fail == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def test_billing_maps_over_the_plants(synth: Any) -> None:
    definition = _definition(synth[2], "kilowatch-monthly-billing")
    plants = definition["States"]["Bill every plant"]
    assert plants["Type"] == "Map" and plants["ItemsPath"] == "$.plan.summary.plants"
    assert plants["MaxConcurrency"] == 4
    assert plants["ItemProcessor"]["StartAt"] == "Bill plant"
    assert plants["ItemSelector"]["plant.$"] == "$$.Map.Item.Value"
    assert plants["Catch"][0]["ErrorEquals"] == ["States.ALL"]


def test_recost_uses_a_distributed_map_for_long_ranges(synth: Any) -> None:
    definition = _definition(synth[2], "kilowatch-recost")
    route = definition["States"]["Long range?"]
    (choice,) = route["Choices"]
    assert choice == {
        "Variable": "$.plan.summary.count",
        "NumericGreaterThan": DISTRIBUTED_AFTER_DAYS,
        "Next": "Recost days (distributed)",
    }
    assert route["Default"] == "Recost days"
    inline = definition["States"]["Recost days"]
    assert inline["ItemsPath"] == "$.plan.summary.days"
    assert inline["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"} or (
        "ProcessorConfig" not in inline["ItemProcessor"]
    )
    distributed = definition["States"]["Recost days (distributed)"]
    assert distributed["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    reader = distributed["ItemReader"]
    assert reader["Resource"].endswith(":s3:getObject")
    assert reader["ReaderConfig"]["InputType"] == "JSON"
    assert reader["Parameters"]["Key.$"] == "$.plan.summary.days_key"
    assert distributed["ResultWriter"]["Resource"].endswith(":s3:putObject")
    # No failed day is tolerated (ASL's default when the field is absent): the run fails.
    assert distributed.get("ToleratedFailurePercentage", 0) == 0
    assert distributed["MaxConcurrency"] == 8
    day = distributed["ItemProcessor"]["States"]["Recost one day"]
    assert day["Catch"][0]["ErrorEquals"] == ["States.ALL"]


def test_machines_log_everything_trace_and_time_out(synth: Any) -> None:
    template = synth[2]
    for name, hours in zip(MACHINES, (2, 6, 24), strict=True):
        template.has_resource_properties(
            "AWS::StepFunctions::StateMachine",
            {
                "StateMachineName": name,
                "TracingConfiguration": {"Enabled": True},
                "LoggingConfiguration": Match.object_like(
                    {"Level": "ALL", "IncludeExecutionData": True}
                ),
                "EncryptionConfiguration": Match.object_like({"Type": "CUSTOMER_MANAGED_KMS_KEY"}),
            },
        )
        assert _definition(template, name)["TimeoutSeconds"] == hours * 3600


def test_task_functions_run_arm64_in_the_vpc_with_their_handlers(synth: Any) -> None:
    orchestration, stack, template = synth
    ours = {
        stack.resolve(stack.get_logical_id(f.node.default_child))
        for f in orchestration.functions.values()
    }
    functions = {
        k: v for k, v in template.find_resources("AWS::Lambda::Function").items() if k in ours
    }
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    assert handlers == sorted(f"orchestration_tasks.{spec.handler}" for spec in TASKS.values())
    for function in functions.values():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"] and props["Runtime"] == "python3.12"
        assert "VpcConfig" in props and "KmsKeyArn" in props
        env = props["Environment"]["Variables"]
        assert {"KILOWATCH_RESULTS_BUCKET", "KILOWATCH_CONFIG"} <= set(env)


def test_an_upload_starts_the_client_data_workflow(synth: Any) -> None:
    orchestration, stack, template = synth
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {
                        "name": [
                            {
                                "Ref": stack.get_logical_id(
                                    orchestration.ingest_bucket.node.default_child
                                )
                            }
                        ]
                    },
                    "object": {"key": [{"prefix": "uploads/"}]},
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {
                            "Ref": stack.get_logical_id(
                                orchestration.state_machines["client-data"].node.default_child
                            )
                        },
                        "DeadLetterConfig": Match.any_value(),
                        "RetryPolicy": Match.object_like({"MaximumRetryAttempts": 3}),
                    }
                )
            ],
        },
    )
    # CDK turns EventBridge notifications on through its bucket-notifications custom resource.
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {
                "Ref": stack.get_logical_id(orchestration.ingest_bucket.node.default_child)
            },
            "NotificationConfiguration": {"EventBridgeConfiguration": {}},
        },
    )


def test_billing_runs_monthly(synth: Any) -> None:
    synth[2].has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 6 2 * ? *)",
        },
    )


def test_failed_and_timed_out_executions_alarm(synth: Any) -> None:
    alarms = synth[2].find_resources("AWS::CloudWatch::Alarm")
    metrics = sorted(a["Properties"]["MetricName"] for a in alarms.values())
    assert metrics == ["ExecutionsFailed"] * 3 + ["ExecutionsTimedOut"] * 3
    assert all(a["Properties"]["AlarmActions"] for a in alarms.values())


def test_buckets_are_encrypted_private_and_ssl_only(synth: Any) -> None:
    orchestration, stack, template = synth
    ours = {
        stack.resolve(stack.get_logical_id(b.node.default_child))
        for b in (orchestration.ingest_bucket, orchestration.results_bucket)
    }
    buckets = template.find_resources("AWS::S3::Bucket")
    for name in ours:
        bucket = buckets[name]
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert props["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
        assert "LoggingConfiguration" in props


def test_the_tasks_reach_s3_from_private_subnets(synth: Any) -> None:
    orchestration, stack, template = synth
    egress = stack.resolve(stack.get_logical_id(orchestration.egress.node.default_child))
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupEgress": [
                Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443})
            ],
        },
    )
    for function in orchestration.functions.values():
        props = template.to_json()["Resources"][
            stack.resolve(stack.get_logical_id(function.node.default_child))
        ]["Properties"]
        groups = props["VpcConfig"]["SecurityGroupIds"]
        assert {"Fn::GetAtt": [egress, "GroupId"]} in groups and len(groups) == 2
    synth[2].has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "ServiceName": Match.object_like({"Fn::Join": Match.any_value()}),
            "VpcEndpointType": "Gateway",
        },
    )


@pytest.mark.parametrize("name", MACHINES)
def test_moto_accepts_each_definition(
    synth: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's ASL parser (the one that runs machines in tests/sfn) takes every definition."""
    import boto3
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    definition = _definition(synth[2], name, token="kilowatch-token")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        created = client.create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/kilowatch-sfn",
        )
        assert created["stateMachineArn"].endswith(f":stateMachine:{name}")


# --- in the whole stack (the session's synth, tests/cdk/conftest.py) ------------------------


def test_the_stack_has_the_workflows_by_default() -> None:
    from kilowatch_cdk.settings import KilowatchSettings

    assert KilowatchSettings().workflows is True


def test_each_task_runs_from_its_own_groups_asset(
    stack: Any, template_json: dict[str, Any]
) -> None:
    """Functions of one asset share its code; the three assets differ (each under 250 MB)."""
    orchestration = stack.orchestration
    assert orchestration is not None
    keys: dict[str, set[str]] = {name: set() for name in TASK_ASSETS}
    for name, function in orchestration.functions.items():
        logical = stack.resolve(stack.get_logical_id(function.node.default_child))
        code = template_json["Resources"][logical]["Properties"]["Code"]
        keys[TASKS[name].asset].add(json.dumps(code, sort_keys=True))
    assert all(len(codes) == 1 for codes in keys.values()), keys
    assert len(set().union(*keys.values())) == len(TASK_ASSETS)


def test_one_code_per_asset_is_required_when_a_mapping_is_given() -> None:
    from kilowatch_cdk.orchestration.infrastructure import _codes

    code = lambda_.Code.from_asset(str(RUNTIME_DIR))
    assert set(_codes(code)) == set(TASK_ASSETS)
    with pytest.raises(ValueError, match="billing"):
        _codes({"client-data": code, "recost": code})


def _aws_services_the_tasks_call() -> set[str]:
    """The boto3 clients the task handlers create (boto3.client("NAME") in the runtime)."""
    import ast

    tree = ast.parse((RUNTIME_DIR / "orchestration_tasks.py").read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_every_aws_service_the_tasks_call_has_an_endpoint_in_their_subnets(
    stack: Any, template_json: dict[str, Any]
) -> None:
    """The task functions run in subnets without a route out: each AWS API they call needs a
    VPC endpoint (S3: gateway; others: interface with private DNS, reachable from the clients'
    group). Notifications are published by the state machines (SNS integration), not by Lambda."""
    services = _aws_services_the_tasks_call()
    assert services == {"s3", "secretsmanager"}
    endpoints = [
        r["Properties"]
        for r in template_json["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    ]

    def named(service: str) -> list[dict[str, Any]]:
        return [e for e in endpoints if f".{service}" in json.dumps(e["ServiceName"])]

    (s3_endpoint,) = named("s3")
    assert s3_endpoint["VpcEndpointType"] == "Gateway"
    (secrets,) = named("secretsmanager")
    assert secrets["VpcEndpointType"] == "Interface" and secrets["PrivateDnsEnabled"] is True
    definitions = json.dumps(
        [
            r["Properties"]["DefinitionString"]
            for r in template_json["Resources"].values()
            if r["Type"] == "AWS::StepFunctions::StateMachine"
        ]
    )
    assert definitions.count(":sns:publish") == 3  # one Notify per workflow, from the machine
