"""Operations: an alarm topic, CloudWatch alarms on every stage, and one dashboard."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from kilowatch_cdk.processing.infrastructure import METRICS_NAMESPACE, READINGS_METRIC, SERVICE_NAME

FIVE_MINUTES = Duration.minutes(5)
AT_LEAST = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
# The stream is behind when its oldest unread record is this old (ms); a healthy Lambda reads
# within seconds, and a record older than max_record_age goes to the on-failure queue.
ITERATOR_AGE_THRESHOLD_MS = 10 * 60 * 1000


def readings_stored_metric(plant: str, period: Duration) -> cw.Metric:
    """Readings the Lambda stored for a plant (Powertools EMF: namespace, plant and service)."""
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=READINGS_METRIC,
        dimensions_map={"plant": plant, "service": SERVICE_NAME},
        statistic="Sum",
        period=period,
    )


def iot_rule_failures(rule_name: str, period: Duration) -> cw.MathExpression:
    """Failed actions of one IoT rule, whatever the ActionType dimension says (Metrics Insights)."""
    return cw.MathExpression(
        expression=(
            'SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) '
            f"WHERE RuleName = '{rule_name}'"
        ),
        using_metrics={},
        period=period,
        label=f"{rule_name} action failures",
    )


class Monitoring(Construct):
    """Alarms to SNS (e-mail optional) and the operations dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        resource_prefix: str,
        stream: kinesis.IStream,
        function: lambda_.IFunction,
        on_failure_queue: sqs.IQueue,
        rules: dict[str, iot.CfnTopicRule],
        plants: Sequence[str],
        reading_interval: Duration,
        silent_plant_intervals: int,
        delivery_stream: firehose.IDeliveryStream | None = None,
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Alarms", display_name="kilowatch alarms", master_key=key, enforce_ssl=True
        )
        # CloudWatch must encrypt the messages it publishes to the encrypted topic.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=["*"],  # in a key policy "*" is this key
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}

        self._alarm(
            "KinesisIteratorAge",
            stream.metric_get_records_iterator_age_milliseconds(
                statistic="Maximum", period=FIVE_MINUTES
            ),
            threshold=ITERATOR_AGE_THRESHOLD_MS,
            evaluation_periods=2,
            description="the processing Lambda is more than 10 minutes behind the stream",
        )
        self._alarm(
            "LambdaErrors",
            function.metric_errors(statistic="Sum", period=FIVE_MINUTES),
            threshold=1,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description="the processing Lambda failed whole invocations (InfluxDB down? a bug?)",
        )
        self._alarm(
            "LambdaThrottles",
            function.metric_throttles(statistic="Sum", period=FIVE_MINUTES),
            threshold=1,
            evaluation_periods=1,
            description="the processing Lambda was throttled (account concurrency)",
        )
        self._alarm(
            "OnFailureQueue",
            on_failure_queue.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=FIVE_MINUTES
            ),
            threshold=1,
            evaluation_periods=1,
            description="a Kinesis batch failed every retry: replay its shard/sequence range",
        )
        for name, rule in rules.items():
            rule_name = rule.rule_name or ""
            self._alarm(
                f"IotRule{name.capitalize()}Failures",
                iot_rule_failures(rule_name, FIVE_MINUTES),
                threshold=1,
                evaluation_periods=1,
                description=f"IoT rule {rule_name} failed to put messages on Kinesis",
            )
        if delivery_stream is not None:
            self._alarm(
                "FirehoseDeliveryFailures",
                delivery_stream.metric(
                    "DeliveryToS3.Success", statistic="Minimum", period=Duration.minutes(15)
                ),
                threshold=1,
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=1,
                description="Firehose failed to deliver records to the data lake",
            )
            self._alarm(
                "FirehoseConversionFailures",
                delivery_stream.metric(
                    "FailedConversion.Records", statistic="Sum", period=Duration.minutes(15)
                ),
                threshold=1,
                evaluation_periods=1,
                description="Firehose could not convert records to Parquet (schema mismatch)",
            )
        for plant in plants:
            self._alarm(
                f"Silent-{plant}",
                readings_stored_metric(plant, reading_interval),
                threshold=1,
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                evaluation_periods=silent_plant_intervals,
                # No data at all is the symptom this alarm exists for.
                missing=cw.TreatMissingData.BREACHING,
                description=(
                    f"plant {plant} stored no reading for {silent_plant_intervals} intervals "
                    "(agents offline, network, IoT Core or the Lambda)"
                ),
            )

        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"{resource_prefix}-operations"
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Readings stored per plant",
                left=[readings_stored_metric(p, FIVE_MINUTES) for p in plants],
                width=12,
            ),
            cw.GraphWidget(
                title="Kinesis: incoming records, iterator age (ms)",
                left=[stream.metric_incoming_records(statistic="Sum", period=FIVE_MINUTES)],
                right=[
                    stream.metric_get_records_iterator_age_milliseconds(
                        statistic="Maximum", period=FIVE_MINUTES
                    )
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Lambda: invocations, errors, throttles",
                left=[
                    function.metric_invocations(statistic="Sum", period=FIVE_MINUTES),
                    function.metric_errors(statistic="Sum", period=FIVE_MINUTES),
                    function.metric_throttles(statistic="Sum", period=FIVE_MINUTES),
                ],
                right=[function.metric_duration(statistic="p95", period=FIVE_MINUTES)],
                width=12,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=12),
        )

    def _alarm(
        self,
        name: str,
        metric: cw.IMetric,
        *,
        threshold: float,
        evaluation_periods: int,
        description: str,
        datapoints_to_alarm: int | None = None,
        comparison: cw.ComparisonOperator = AT_LEAST,
        missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cw.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        alarm.add_ok_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm
