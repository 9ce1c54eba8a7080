"""Step Functions workflows: client data, monthly billing, recost; each defined once, here.

Every Lambda task retries transient errors with backoff, has a timeout, writes its results to
the results bucket and returns only a small summary; a failure is caught, recorded in S3 with
the input that caused it, and then fails the execution with the original error (so
`kilowatch sfn explain` shows that error, not the recording step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from kilowatch_cdk.grants import grant_objects
from kilowatch_cdk.orchestration.assets import TASK_ASSETS, TaskAsset

RUNTIME_DIR = Path(__file__).parent / "runtime"
HANDLER_MODULE = "orchestration_tasks"  # runtime/orchestration_tasks.py, at the asset's top level
RUNTIME = lambda_.Runtime.PYTHON_3_12
UPLOAD_PREFIX = "uploads/"  # client files: uploads/{plant}/{kind}/{file}
# The kind of upload that is reconciled instead of loaded (runtime: parse_upload_key).
BILLS_KIND = "bills"
# Errors worth another try: Lambda's own hiccups, throttling, and kilowatch's TransientError
# (InfluxDB or S3 answering 5xx or 429 inside a task).
TRANSIENT_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "TransientError",
)
RETRY_INTERVAL = Duration.seconds(2)
RETRY_ATTEMPTS = 5
RETRY_BACKOFF = 2.0
RETRY_MAX_DELAY = Duration.seconds(60)
# Recost ranges longer than this run as a Distributed Map (each day a child execution, read
# from S3): an inline Map's items all land in one history, limited to 25,000 events.
DISTRIBUTED_AFTER_DAYS = 62
RESULT_WRITER_V2_FLAG = "@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2"


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """A Lambda task: its handler function, code asset, memory and timeout."""

    handler: str
    asset: TaskAsset  # which asset holds what it imports (orchestration/assets.py)
    memory_mb: int
    timeout: Duration
    needs_influx: bool = True
    description: str = ""


TASKS: dict[str, TaskSpec] = {
    "validate": TaskSpec(handler="validate", asset="client-data", memory_mb=2048,
                         timeout=Duration.minutes(5), needs_influx=False,
                         description="validate a client upload (pandera)"),
    "load": TaskSpec(handler="load", asset="client-data", memory_mb=2048,
                     timeout=Duration.minutes(10),
                     description="write validated client data to InfluxDB"),
    "indicators": TaskSpec(handler="indicators", asset="client-data", memory_mb=2048,
                           timeout=Duration.minutes(10),
                           description="energy intensity of the uploaded days"),
    "reconcile": TaskSpec(handler="reconcile", asset="client-data", memory_mb=2048,
                          timeout=Duration.minutes(10),
                          description="reconcile a utility's bills with kilowatch's"),
    "plan_billing": TaskSpec(handler="plan_billing", asset="billing", memory_mb=512,
                             timeout=Duration.minutes(1), needs_influx=False,
                             description="the plants and period to bill"),
    "bill_plant": TaskSpec(handler="bill_plant", asset="billing", memory_mb=2048,
                           timeout=Duration.minutes(10),
                           description="one plant's bill: JSON, CSV and PNG to S3"),
    "plan_recost": TaskSpec(handler="plan_recost", asset="recost", memory_mb=512,
                            timeout=Duration.minutes(1), needs_influx=False,
                            description="the days of a recost range"),
    "recost_day": TaskSpec(handler="recost_day", asset="recost", memory_mb=2048,
                           timeout=Duration.minutes(10),
                           description="re-cost one day of a plant's stored readings"),
    # Standard library and requests only: it rides in the smallest asset.
    "summarize": TaskSpec(handler="summarize", asset="recost", memory_mb=512,
                          timeout=Duration.minutes(2), needs_influx=False,
                          description="collect a run's results in S3"),
}  # fmt: skip
MACHINE_TIMEOUTS = {
    "client-data": Duration.hours(2),
    "monthly-billing": Duration.hours(6),
    "recost": Duration.hours(24),
}


class Orchestration(Construct):
    """The workflows, their Lambda tasks, the ingest and results buckets, alarms on failures."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        lambda_code: lambda_.Code | Mapping[TaskAsset, lambda_.Code],
        lambda_environment: Mapping[str, str],
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        influx_secret: secretsmanager.ISecret,
        alarm_topic: sns.ITopic,
        access_logs_bucket: s3.IBucket,
        subnets: ec2.SubnetSelection | None = None,
        resource_prefix: str = "kilowatch",
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        distributed_after_days: int = DISTRIBUTED_AFTER_DAYS,
        billing_schedule: events.Schedule | None = None,
        s3_gateway_endpoint: bool = True,
    ) -> None:
        """`lambda_code`: per asset name of orchestration/assets.py (client-data, billing,
        recost), the code holding kilowatch, the packages those tasks import and
        runtime/orchestration_tasks.py at its top level (packaging.build_orchestration_asset);
        one Code for every task is accepted too (it must then hold all their packages).
        `s3_gateway_endpoint`: add the S3 gateway endpoint the tasks need in private subnets
        (turn it off when the VPC has one already: a route table takes one per service)."""
        super().__init__(scope, construct_id)
        # ResultWriterV2 (the Distributed Map's results to S3) is behind this feature flag;
        # set here, before any child exists, it holds for this construct alone.
        self.node.set_context(RESULT_WRITER_V2_FLAG, True)
        self.key = key
        self.prefix = resource_prefix
        self.distributed_after_days = distributed_after_days
        self.ingest_bucket = self._bucket(
            "IngestBucket", access_logs_bucket, removal_policy, "ingest/", event_bridge=True
        )
        self.results_bucket = self._bucket(
            "ResultsBucket", access_logs_bucket, removal_policy, "results/"
        )
        self.notifications = sns.Topic(
            self,
            "Notifications",
            master_key=key,
            enforce_ssl=True,
            display_name=f"{resource_prefix}: workflow results",
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        if s3_gateway_endpoint:
            ec2.GatewayVpcEndpoint(
                self,
                "S3Endpoint",
                vpc=vpc,
                service=ec2.GatewayVpcEndpointAwsService.S3,
                subnets=[subnets] if subnets else None,
            )
        # S3 through a gateway endpoint is a route to S3's public addresses: the clients group
        # allows only InfluxDB and the interface endpoints, so the tasks get HTTPS out too.
        # In isolated subnets S3's gateway (and the VPC's endpoints) are all that route.
        self.egress = ec2.SecurityGroup(
            self,
            "TasksEgress",
            vpc=vpc,
            allow_all_outbound=False,
            description="kilowatch workflow tasks: HTTPS to S3 through its gateway endpoint",
        )
        self.egress.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.HTTPS, "S3 (gateway endpoint)")
        codes = _codes(lambda_code)
        self.functions: dict[str, lambda_.Function] = {}
        environment = {
            **lambda_environment,
            "KILOWATCH_RESULTS_BUCKET": self.results_bucket.bucket_name,
            "KILOWATCH_INGEST_BUCKET": self.ingest_bucket.bucket_name,
            "KILOWATCH_INFLUX_TOKEN_SECRET_ARN": influx_secret.secret_arn,
            "KILOWATCH_DISTRIBUTED_AFTER_DAYS": str(distributed_after_days),
            "POWERTOOLS_SERVICE_NAME": f"{resource_prefix}-orchestration",
        }
        for name, spec in TASKS.items():
            function = lambda_.Function(
                self,
                f"{_camel(name)}Function",
                description=f"kilowatch workflow task: {spec.description}",
                runtime=RUNTIME,
                architecture=lambda_.Architecture.ARM_64,
                handler=f"{HANDLER_MODULE}.{spec.handler}",
                code=codes[spec.asset],
                memory_size=spec.memory_mb,
                timeout=spec.timeout,
                environment=environment,
                environment_encryption=key,
                log_group=self.log_group,
                vpc=vpc,
                vpc_subnets=subnets,
                security_groups=[security_group, self.egress],
            )
            grant_objects(function, self.results_bucket, key=key, write=True)
            if spec.needs_influx:
                influx_secret.grant_read(function)
            self.functions[name] = function
        grant_objects(self.functions["validate"], self.ingest_bucket, key=key, write=False)

        self.state_machines: dict[str, sfn.StateMachine] = {
            "client-data": self._machine("client-data", self._client_data()),
            "monthly-billing": self._machine("monthly-billing", self._monthly_billing()),
            "recost": self._machine("recost", self._recost()),
        }
        self._triggers(billing_schedule, removal_policy)
        self._alarms(alarm_topic)
        self._acknowledge()

    # --- building blocks ---------------------------------------------------------------

    def _bucket(
        self,
        construct_id: str,
        access_logs: s3.IBucket,
        removal: RemovalPolicy,
        log_prefix: str,
        event_bridge: bool = False,
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            event_bridge_enabled=event_bridge,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            removal_policy=removal,
            auto_delete_objects=False,
        )

    def _task(
        self,
        name: str,
        state_name: str,
        *,
        result_path: str | None = None,
        payload: Mapping[str, object] | None = None,
    ) -> tasks.LambdaInvoke:
        """A Lambda task: retries on transient errors, a timeout, a small result."""
        spec = TASKS[name]
        task = tasks.LambdaInvoke(
            self,
            state_name,
            state_name=state_name,
            lambda_function=self.functions[name],
            payload=sfn.TaskInput.from_object(dict(payload)) if payload else None,
            retry_on_service_exceptions=False,  # the explicit retry below covers them
            # The task waits a little longer than the function may run, so a Lambda timeout
            # shows as the function's error rather than as States.Timeout.
            task_timeout=sfn.Timeout.duration(spec.timeout.plus(Duration.seconds(30))),
            result_selector={"summary.$": "$.Payload.summary", "results.$": "$.Payload.results"},
            result_path=result_path or f"$.{name}",
        )
        task.add_retry(
            errors=list(TRANSIENT_ERRORS),
            interval=RETRY_INTERVAL,
            max_attempts=RETRY_ATTEMPTS,
            backoff_rate=RETRY_BACKOFF,
            max_delay=RETRY_MAX_DELAY,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task

    def _failure(self, label: str, item_path: str | None = None) -> sfn.Chain:
        """Record the caught error with the input that caused it in S3, then fail with it.

        The record is failures/{machine}/{execution}.json, or .../{execution}/{item}.json for a
        Map item (`item_path` names the item in the input: a plant, a day).
        """
        key = (
            f"States.Format('failures/{{}}/{{}}/{{}}.json', $$.StateMachine.Name, "
            f"$$.Execution.Name, {item_path})"
            if item_path
            else "States.Format('failures/{}/{}.json', $$.StateMachine.Name, $$.Execution.Name)"
        )
        record = tasks.CallAwsService(
            self,
            f"Record{label}Failure",
            state_name=f"Record failure ({label})",
            service="s3",
            action="putObject",
            parameters={
                "Bucket": self.results_bucket.bucket_name,
                "Key.$": key,
                "Body.$": "$",
                "ContentType": "application/json",
            },
            iam_resources=[self.results_bucket.arn_for_objects("failures/*")],
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(30)),
        )
        record.add_retry(
            errors=["S3.S3Exception", "States.Timeout"],
            max_attempts=3,
            interval=Duration.seconds(1),
            backoff_rate=2.0,
        )
        fail = sfn.Fail(
            self,
            f"{label}Failed",
            state_name=f"{label} failed",
            error_path="$.error.Error",
            cause_path="$.error.Cause",
        )
        return record.next(fail)

    def _notify(self, state_name: str, subject: str) -> tasks.SnsPublish:
        """Publish the run's one-line summary; a hiccup of SNS is retried (a repeat is harmless)."""
        notify = tasks.SnsPublish(
            self,
            state_name,
            state_name=state_name,
            topic=self.notifications,
            subject=subject,
            message=sfn.TaskInput.from_json_path_at("$.summarize.summary"),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.seconds(30)),
        )
        notify.add_retry(
            errors=["States.ALL"],
            interval=RETRY_INTERVAL,
            max_attempts=3,
            backoff_rate=RETRY_BACKOFF,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return notify

    def _machine(self, name: str, definition: sfn.IChainable) -> sfn.StateMachine:
        machine = sfn.StateMachine(
            self,
            f"{_camel(name)}StateMachine",
            state_machine_name=f"{self.prefix}-{name}",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=MACHINE_TIMEOUTS[name],
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self.key),
        )
        # Failure records, Distributed Map items and results: objects under the bucket's key.
        # (and notifications go to a topic encrypted with the same key).
        grant_objects(machine, self.results_bucket, key=self.key, write=True)
        return machine

    # --- the three workflows ---------------------------------------------------------------

    def _client_data(self) -> sfn.IChainable:
        """validate -> (bills: reconcile | otherwise: load -> indicators) -> summarize -> notify,
        for one uploaded file."""
        failed = self._failure("ClientData")
        validated = {"validated.$": "$.validate.summary", "execution.$": "$$.Execution.Name"}

        def step(name: str, state: str) -> sfn.TaskStateBase:
            return self._task(name, state, payload=validated).add_catch(
                failed, errors=["States.ALL"], result_path="$.error"
            )

        validate = self._task(
            "validate",
            "Validate",
            payload={
                "bucket.$": "$.bucket",
                "key.$": "$.key",
                "execution.$": "$$.Execution.Name",
            },
        ).add_catch(failed, errors=["States.ALL"], result_path="$.error")
        summarize = (
            self._task(
                "summarize",
                "Summarize",
                payload={
                    "workflow": "client-data",
                    "execution.$": "$$.Execution.Name",
                    "steps.$": "$",
                },
            )
            .add_catch(failed, errors=["States.ALL"], result_path="$.error")
            .next(self._notify("Notify", "kilowatch: client data loaded"))
        )
        # The kind comes from the upload's folder (and the file's type: Green Button XML among
        # the bills is interval data), as validate read it.
        route = (
            sfn.Choice(self, "Bills or data?", state_name="Bills or data?")
            .when(
                sfn.Condition.string_equals("$.validate.summary.kind", BILLS_KIND),
                step("reconcile", "Reconcile").next(summarize),
            )
            .otherwise(step("load", "Load").next(step("indicators", "Indicators")).next(summarize))
        )
        return sfn.Chain.start(validate).next(route)

    def _monthly_billing(self) -> sfn.IChainable:
        """plan -> Map over plants (bill each: JSON/CSV/PNG to S3) -> summarize -> notify."""
        failed = self._failure("Billing")
        plan = self._task("plan_billing", "Plan billing", result_path="$.plan")
        bill = self._task("bill_plant", "Bill plant", result_path="$")
        bill_failed = self._failure("Bill", item_path="$.plant")
        bill.add_catch(bill_failed, errors=["States.ALL"], result_path="$.error")
        plants = sfn.Map(
            self,
            "Bill every plant",
            state_name="Bill every plant",
            items_path="$.plan.summary.plants",
            item_selector={
                "plant.$": "$$.Map.Item.Value",
                "period.$": "$.plan.summary.period",
                "execution.$": "$$.Execution.Name",
            },
            max_concurrency=4,
            result_path="$.bills",
        )
        plants.item_processor(bill)
        plants.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        plan.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        summarize = self._task(
            "summarize",
            "Summarize billing",
            result_path="$.summarize",
            payload={
                "workflow": "monthly-billing",
                "execution.$": "$$.Execution.Name",
                "steps.$": "$",
            },
        )
        summarize.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        return (
            sfn.Chain.start(plan)
            .next(plants)
            .next(summarize)
            .next(self._notify("Notify billing", "kilowatch: monthly bills ready"))
        )

    def _recost(self) -> sfn.IChainable:
        """plan -> Map over days (Distributed Map when long) -> summarize -> notify."""
        failed = self._failure("Recost")
        plan = self._task(
            "plan_recost",
            "Plan recost",
            result_path="$.plan",
            payload={
                "plant.$": "$.plant",
                "from.$": "$.from",
                "to.$": "$.to",
                "execution.$": "$$.Execution.Name",
            },
        )
        plan.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        day_selector = {
            "plant.$": "$.plan.summary.plant",
            "day.$": "$$.Map.Item.Value",
            "execution.$": "$$.Execution.Name",
        }
        inline_day = self._task("recost_day", "Recost day", result_path="$")
        inline_day.add_catch(
            self._failure("Day", item_path="$.day"), errors=["States.ALL"], result_path="$.error"
        )
        inline = sfn.Map(
            self,
            "Recost days",
            state_name="Recost days",
            items_path="$.plan.summary.days",
            item_selector=day_selector,
            max_concurrency=4,
            result_path=sfn.JsonPath.DISCARD,
        )
        inline.item_processor(inline_day)
        inline.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        distributed_day = self._task("recost_day", "Recost one day", result_path="$")
        distributed_day.add_catch(
            self._failure("OneDay", item_path="$.day"), errors=["States.ALL"], result_path="$.error"
        )
        distributed = sfn.DistributedMap(
            self,
            "Recost days (distributed)",
            state_name="Recost days (distributed)",
            item_reader=sfn.S3JsonItemReader(
                bucket=self.results_bucket,
                key=sfn.JsonPath.string_at("$.plan.summary.days_key"),
            ),
            item_selector={
                "plant.$": "$.plan.summary.plant",
                "day.$": "$$.Map.Item.Value",
                "execution.$": "$$.Execution.Name",
            },
            max_concurrency=8,
            tolerated_failure_percentage=0,
            map_execution_type=sfn.StateMachineType.STANDARD,
            result_writer_v2=sfn.ResultWriterV2(bucket=self.results_bucket, prefix="recost-runs"),
            label="RecostDays",
            result_path=sfn.JsonPath.DISCARD,
        )
        distributed.item_processor(distributed_day)
        distributed.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        summarize = self._task(
            "summarize",
            "Summarize recost",
            result_path="$.summarize",
            payload={"workflow": "recost", "execution.$": "$$.Execution.Name", "steps.$": "$"},
        )
        summarize.add_catch(failed, errors=["States.ALL"], result_path="$.error")
        after = summarize.next(self._notify("Notify recost", "kilowatch: recost done"))
        route = (
            sfn.Choice(self, "Long range?", state_name="Long range?")
            .when(
                sfn.Condition.number_greater_than(
                    "$.plan.summary.count", self.distributed_after_days
                ),
                distributed.next(after),
            )
            .otherwise(inline.next(after))
        )
        return sfn.Chain.start(plan).next(route)

    # --- triggers and alarms ---------------------------------------------------------------

    def _triggers(
        self, billing_schedule: events.Schedule | None, removal_policy: RemovalPolicy
    ) -> None:
        dead_letters = sqs.Queue(
            self,
            "TriggerDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,  # undelivered starts are data: kept like the buckets
        )
        self.upload_rule = events.Rule(
            self,
            "OnUpload",
            description="an upload to the ingest bucket starts the client-data workflow",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.ingest_bucket.bucket_name]},
                    "object": {"key": [{"prefix": UPLOAD_PREFIX}]},
                },
            ),
        )
        self.upload_rule.add_target(
            targets.SfnStateMachine(
                self.state_machines["client-data"],
                input=events.RuleTargetInput.from_object(
                    {
                        "bucket": events.EventField.from_path("$.detail.bucket.name"),
                        "key": events.EventField.from_path("$.detail.object.key"),
                    }
                ),
                dead_letter_queue=dead_letters,
                retry_attempts=3,
                max_event_age=Duration.hours(2),
            )
        )
        self.billing_rule = events.Rule(
            self,
            "MonthlyBilling",
            description="bill every plant for the month just ended",
            schedule=billing_schedule or events.Schedule.cron(day="2", hour="6", minute="0"),
        )
        self.billing_rule.add_target(
            targets.SfnStateMachine(
                self.state_machines["monthly-billing"],
                input=events.RuleTargetInput.from_object({"period": "previous"}),
                dead_letter_queue=dead_letters,
                retry_attempts=3,
            )
        )

    def _acknowledge(self) -> None:
        """cdk-nag findings that are by design in this unit, each with its reason."""
        stack = Stack.of(self)

        def ref(construct: Construct) -> str:
            return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]

        results, ingest = ref(self.results_bucket), ref(self.ingest_bucket)
        found = [*_BY_DESIGN]
        found += [
            (
                f"AwsSolutions-IAM5[Resource::<{ref(f)}.Arn>:*]",
                "Step Functions may invoke any version of this one task function",
            )
            for f in self.functions.values()
        ]
        found += [
            (
                f"AwsSolutions-IAM5[Resource::<{results}.Arn>/*]",
                "tasks write results under names made per run (workflow/plant/period/execution)",
            ),
            (
                f"AwsSolutions-IAM5[Resource::<{results}.Arn>/failures/*]",
                "a caught failure is recorded under failures/{machine}/{execution}[/{item}].json, "
                "a name made at run time",
            ),
            (
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<{results}>/*]",
                "the Distributed Map reads its day list and writes its results in the results "
                "bucket",
            ),
            (
                f"AwsSolutions-IAM5[Resource::<{ingest}.Arn>/*]",
                "validate reads the client's upload, whose name the client chooses",
            ),
        ]
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        recost = ref(self.state_machines["recost"])
        name = f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{recost}"}}]}}]}}'
        executions = f"arn:<AWS::Partition>:states:{region}:{account}:execution:{name}"
        found += [
            (
                f"AwsSolutions-IAM5[Resource::{executions}:*]",
                "the recost machine follows the child executions of its Distributed Map",
            ),
            (
                f"AwsSolutions-IAM5[Resource::{executions}/RecostDays:*]",
                "the recost machine stops and describes its Map run's child executions",
            ),
        ]
        for finding, reason in found:
            Validations.of(self).acknowledge(Acknowledgment(id=finding, reason=reason))
        Validations.of(self.node.find_child("TriggerDeadLetters")).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="this queue is itself the dead-letter queue of the workflow triggers",
            )
        )
        # CDK's one bucket-notifications function per stack (EventBridge on the ingest bucket).
        handler = stack.node.try_find_child(
            "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
        )
        if handler is not None:
            Validations.of(handler).acknowledge(
                Acknowledgment(
                    id=_LAMBDA_BASIC,
                    reason="a CDK-provided deploy-time function writing its own logs",
                )
            )

    def _alarms(self, topic: sns.ITopic) -> None:
        self.alarms: list[cloudwatch.Alarm] = []
        for name, machine in self.state_machines.items():
            for what, metric in (
                ("failed", machine.metric_failed(period=Duration.minutes(5))),
                ("timed out", machine.metric_timed_out(period=Duration.minutes(5))),
            ):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{_camel(name)}{_camel(what)}Alarm",
                    alarm_description=f"{self.prefix}-{name}: an execution {what}; "
                    f"`kilowatch sfn list {self.prefix}-{name} --status "
                    f"{'FAILED' if what == 'failed' else 'TIMED_OUT'}`, "
                    "then `kilowatch sfn explain ARN`",
                    metric=metric,
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=AT_LEAST,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
                self.alarms.append(alarm)


_MANAGED = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
_LAMBDA_BASIC = _MANAGED + "AWSLambdaBasicExecutionRole]"
_BY_DESIGN = (
    (
        _MANAGED + "AWSLambdaVPCAccessExecutionRole]",
        "the AWS policy for a function in a VPC: logs and its own network interfaces only",
    ),
    (_LAMBDA_BASIC, "the AWS policy that lets a function write its own logs"),
    (
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray segments and CloudWatch Logs delivery of the state machines have no "
        "resource-level permissions",
    ),
    (
        "AwsSolutions-L1",
        "pinned to Python 3.12 like the processing function: the asset's binary wheels are "
        "built for cp312",
    ),
)


AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD


def _codes(
    code: lambda_.Code | Mapping[TaskAsset, lambda_.Code],
) -> Mapping[TaskAsset, lambda_.Code]:
    """The code of every task asset: the mapping given, or one Code for them all."""
    if isinstance(code, lambda_.Code):
        return dict.fromkeys(TASK_ASSETS, code)
    missing = [name for name in TASK_ASSETS if name not in code]
    if missing:
        raise ValueError(
            f"lambda_code has no code for the task asset(s) {', '.join(missing)}; give one per "
            f"name of {', '.join(TASK_ASSETS)} (packaging.build_orchestration_asset builds them)"
        )
    return code


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", " ").replace("_", " ").split())


def machine_names(prefix: str = "kilowatch") -> list[str]:
    """The state machines' names, as `kilowatch sfn run NAME` takes them."""
    return [f"{prefix}-{name}" for name in MACHINE_TIMEOUTS]
