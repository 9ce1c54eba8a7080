"""Alarms (thresholds, periods, missing data), the encrypted alarm topic, the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from kilowatch_cdk.stack import KilowatchStack, plant_ids

from tests.cdk.helpers import logical_id, resources_of


def _alarms(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Alarm properties by their construct name (the id under Monitoring)."""
    found = {}
    for alarm_id, alarm in resources_of(template_json, "AWS::CloudWatch::Alarm").items():
        path = alarm["Metadata"]["aws:cdk:path"] if "Metadata" in alarm else alarm_id
        found[path] = alarm["Properties"]
    return found


@pytest.fixture(scope="module")
def alarms(template_json: dict[str, Any], stack: KilowatchStack) -> dict[str, dict[str, Any]]:
    by_name = {}
    for name, alarm in stack.monitoring.alarms.items():
        by_name[name] = template_json["Resources"][logical_id(stack, alarm)]["Properties"]
    return by_name


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(
    alarms: dict[str, dict[str, Any]], stack: KilowatchStack
) -> None:
    topic = {"Ref": logical_id(stack, stack.monitoring.topic)}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic], name
        assert alarm["OKActions"] == [topic], name
        assert alarm["AlarmDescription"], name


def test_iterator_age_alarm_fires_after_ten_minutes_behind(
    alarms: dict[str, dict[str, Any]],
) -> None:
    alarm = alarms["KinesisIteratorAge"]
    assert alarm["MetricName"] == "GetRecords.IteratorAgeMilliseconds"
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == 600_000
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (alarm["Period"], alarm["EvaluationPeriods"]) == (300, 2)


def test_lambda_error_and_throttle_alarms(alarms: dict[str, dict[str, Any]]) -> None:
    errors, throttles = alarms["LambdaErrors"], alarms["LambdaThrottles"]
    assert (
        errors["MetricName"],
        errors["Threshold"],
        errors["EvaluationPeriods"],
        errors["DatapointsToAlarm"],
    ) == ("Errors", 1, 3, 2)
    assert (throttles["MetricName"], throttles["Threshold"], throttles["EvaluationPeriods"]) == (
        "Throttles",
        1,
        1,
    )


def test_on_failure_queue_alarm_fires_on_the_first_message(
    alarms: dict[str, dict[str, Any]], stack: KilowatchStack
) -> None:
    alarm = alarms["OnFailureQueue"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1
    queue = logical_id(stack, stack.processing.on_failure_queue)
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    ]


def test_iot_rule_failure_alarms_name_each_rule(alarms: dict[str, dict[str, Any]]) -> None:
    for name in ("readings", "status"):
        alarm = alarms[f"IotRule{name.capitalize()}Failures"]
        (query,) = alarm["Metrics"]
        assert query["Expression"] == (
            'SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) '
            f"WHERE RuleName = 'kilowatch_test_{name}'"
        )
        assert query["Period"] == 300
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_firehose_delivery_alarms(alarms: dict[str, dict[str, Any]]) -> None:
    success = alarms["FirehoseDeliveryFailures"]
    assert success["MetricName"] == "DeliveryToS3.Success"
    assert (success["ComparisonOperator"], success["Threshold"]) == ("LessThanThreshold", 1)
    assert alarms["FirehoseConversionFailures"]["MetricName"] == "FailedConversion.Records"


def test_a_silent_plant_alarms_after_n_intervals_missing_data_breaching(
    alarms: dict[str, dict[str, Any]], stack: KilowatchStack
) -> None:
    plants = plant_ids(stack.settings)
    assert plants == ["hmo", "sea"]
    for plant in plants:
        alarm = alarms[f"Silent-{plant}"]
        assert alarm["Namespace"] == "kilowatch"
        assert alarm["MetricName"] == "ReadingsStored"
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == [
            {"Name": "plant", "Value": plant},
            {"Name": "service", "Value": "kilowatch-ingest"},
        ]
        assert alarm["Statistic"] == "Sum"
        assert alarm["Period"] == 300
        assert alarm["EvaluationPeriods"] == 3
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
        assert alarm["TreatMissingData"] == "breaching"


def test_alarm_topic_is_kms_encrypted_tls_only_with_the_email(
    template: Template, stack: KilowatchStack
) -> None:
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]}}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
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
            }
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_cloudwatch_may_use_the_key_for_the_encrypted_topic(
    template_json: dict[str, Any], stack: KilowatchStack
) -> None:
    key = template_json["Resources"][logical_id(stack, stack.key)]
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        and sorted(s["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        for s in statements
    )


def test_dashboard_exists(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "kilowatch-test-operations"}
    )
