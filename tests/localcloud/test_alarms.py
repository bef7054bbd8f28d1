"""The local cloud's CloudWatch: EMF parsing, metric math, "M out of N" with missing data, and
the alarm events the functions receive."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.data_classes import CloudWatchAlarmEvent, SNSEvent

from localcloud.cloudwatch.actions import lambda_action_event, sns_message
from localcloud.cloudwatch.alarms import ALARM, INSUFFICIENT_DATA, OK, Alarm, breaches, decide
from localcloud.cloudwatch.emf import parse_emf
from localcloud.cloudwatch.metric_math import Expression, ExpressionError
from localcloud.cloudwatch.metrics import RegionMetrics, statistic
from localcloud.sns import sns_event

EMF = json.dumps(
    {
        "_aws": {
            "Timestamp": 1_795_602_391_973,
            "CloudWatchMetrics": [
                {
                    "Namespace": "active-active",
                    "Dimensions": [["service"]],
                    "Metrics": [
                        {"Name": "FailedLogins", "Unit": "Count"},
                        {"Name": "Tries", "Unit": "Count"},
                    ],
                }
            ],
        },
        "service": "login",
        "FailedLogins": [1.0, 2.0],
        "Tries": 3,
    }
)


def test_emf_line_becomes_one_datapoint_per_value_with_its_dimensions_and_timestamp():
    points = parse_emf(EMF)
    assert [(p.name, p.value) for p in points] == [
        ("FailedLogins", 1.0),
        ("FailedLogins", 2.0),
        ("Tries", 3.0),
    ]
    assert {p.namespace for p in points} == {"active-active"}
    assert {p.dimensions for p in points} == {(("service", "login"),)}
    assert {p.unit for p in points} == {"Count"}
    assert points[0].timestamp == pytest.approx(1_795_602_391.973)


def test_emf_metric_is_emitted_for_every_dimension_set():
    document = json.loads(EMF)
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["service"], ["service", "region"]]
    document["region"] = "us-east-1"
    points = [p for p in parse_emf(json.dumps(document)) if p.name == "Tries"]
    assert [p.dimensions for p in points] == [
        (("service", "login"),),
        (("region", "us-east-1"), ("service", "login")),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: 1 Version: $LATEST",
        '{"level": "INFO", "message": "no metrics here"}',
        '{"_aws": "not a directive"}',
        '{"_aws": {"CloudWatchMetrics": [{"Namespace": "x"}]}}',
        '{"_aws": {broken json',
    ],
)
def test_lines_that_are_not_valid_emf_give_no_datapoints(line):
    assert parse_emf(line) == []


def test_non_numeric_emf_values_are_skipped():
    document = json.loads(EMF)
    document["Tries"] = "three"
    document["FailedLogins"] = [True, 4]
    assert [(p.name, p.value) for p in parse_emf(json.dumps(document))] == [("FailedLogins", 4.0)]


@pytest.mark.parametrize(
    ("stat", "expected"),
    [("Sum", 15.0), ("Average", 3.0), ("Minimum", 1.0), ("Maximum", 5.0), ("SampleCount", 5.0), ("p90", 5.0)],
)
def test_statistics_over_one_period(stat, expected):
    assert statistic([3.0, 1.0, 5.0, 2.0, 4.0], stat) == expected


def test_a_period_without_values_has_no_datapoint():
    assert statistic([], "Sum") is None


# Metric math


def test_error_rate_expression_divides_when_there_are_requests():
    rate = Expression("IF(requests > 0, errors / requests, 0)")
    assert rate.names == {"requests", "errors"}
    assert rate.evaluate({"requests": 4.0, "errors": 1.0}) == 0.25


def test_error_rate_expression_is_zero_without_requests_and_never_divides_by_zero():
    assert (
        Expression("IF(requests > 0, errors / requests, 0)").evaluate({"requests": 0.0, "errors": 0.0}) == 0
    )


def test_expression_with_a_missing_input_is_missing():
    assert (
        Expression("IF(requests > 0, errors / requests, 0)").evaluate({"requests": None, "errors": None})
        is None
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("-a + 10", 8.0),
        ("a >= 2 AND b < 1", 0.0),
        ("a >= 2 || b < 1", 1.0),
        ("NOT a == 2", 0.0),
        ("ABS(a - b)", 1.0),
        ("IF(a > b, 1)", None),
        ("a / 0", None),
        ("100 * b / a", 150.0),
    ],
)
def test_expression_operators(text, expected):
    assert Expression(text).evaluate({"a": 2.0, "b": 3.0}) == expected


@pytest.mark.parametrize(
    "text", ["__import__('os')", "a +", "FOO(a)", "a ; b", "IF(a)", "a.b", "(a", "a b", "'x'"]
)
def test_anything_else_is_rejected_when_parsed(text):
    with pytest.raises(ExpressionError):
        Expression(text)


# "M out of N" and treatMissingData

B, N, X = True, False, None  # breaching, not breaching, missing


@pytest.mark.parametrize(
    ("flags", "treat", "expected"),
    [
        ([B, B, N], "missing", ALARM),
        ([B, N, N], "missing", OK),
        ([X, X, X], "missing", INSUFFICIENT_DATA),
        ([X, X, B], "missing", ALARM),  # fewer datapoints than M: all that exist must breach
        ([N, X, B], "missing", OK),
        ([X, X, X], "ignore", "CURRENT"),
        ([B, X, B], "ignore", ALARM),
        ([X, N, X], "ignore", OK),
        ([X, X, B], "breaching", ALARM),
        ([X, N, N], "breaching", OK),
        ([X, X, X], "breaching", ALARM),
        ([X, X, B], "notBreaching", OK),
        ([B, X, B], "notBreaching", ALARM),
        ([X, X, X], "notBreaching", OK),
    ],
)
def test_two_out_of_three_with_each_treatment_of_missing_data(flags, treat, expected):
    assert decide(flags, 2, treat, "CURRENT") == expected


def test_breaches_compare_each_datapoint_with_the_threshold_and_keep_missing_ones():
    assert breaches([5.0, 4.0, None], "GreaterThanOrEqualToThreshold", 5) == [True, False, None]
    assert breaches([0.3, 0.2], "GreaterThanThreshold", 0.2) == [True, False]
    assert breaches([1.0], "LessThanThreshold", 2) == [True]


# Alarms built from the deployed graph, evaluated over compressed periods

ERROR_RATE = {
    "name": "monitoring-error-rate",
    "inputs": {
        "evaluationPeriods": 3.0,
        "datapointsToAlarm": 2.0,
        "threshold": 0.2,
        "comparisonOperator": "GreaterThanThreshold",
        "treatMissingData": "notBreaching",
        "alarmDescription": "User API 5xx responses above 20% of requests",
        "metricQueries": [
            {
                "id": "errors",
                "returnData": False,
                "metric": {
                    "namespace": "AWS/ApiGateway",
                    "metricName": "5xx",
                    "dimensions": {"ApiId": "abc", "Stage": "$default"},
                    "period": 60.0,
                    "stat": "Sum",
                },
            },
            {
                "id": "requests",
                "returnData": False,
                "metric": {
                    "namespace": "AWS/ApiGateway",
                    "metricName": "Count",
                    "dimensions": {"ApiId": "abc", "Stage": "$default"},
                    "period": 60.0,
                    "stat": "Sum",
                },
            },
            {"id": "rate", "expression": "IF(requests > 0, errors / requests, 0)", "returnData": True},
        ],
        "alarmActions": ["arn:aws:sns:us-east-1:123456789012:alarms"],
        "okActions": ["arn:aws:sns:us-east-1:123456789012:alarms"],
    },
    "outputs": {
        "name": "error-rate-1",
        "arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:error-rate-1",
    },
}
FAILED_LOGINS = {
    "name": "monitoring-failed-logins",
    "inputs": {
        "evaluationPeriods": 1.0,
        "threshold": 5.0,
        "period": 300.0,
        "statistic": "Sum",
        "treatMissingData": "notBreaching",
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "alarmDescription": "More than 4 failed logins in 5 minutes",
        "namespace": "active-active",
        "metricName": "FailedLogins",
        "dimensions": {"service": "login"},
        "alarmActions": ["arn:aws:lambda:us-east-1:123456789012:function:security"],
        "okActions": ["arn:aws:lambda:us-east-1:123456789012:function:security"],
    },
    "outputs": {
        "name": "failed-logins-1",
        "arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:failed-logins-1",
    },
}


def _requests(metrics: RegionMetrics, at: float, count: int, errors: int) -> None:
    for index in range(count):
        metrics.put("AWS/ApiGateway", "Count", {"ApiId": "abc", "Stage": "$default"}, 1, timestamp=at)
        metrics.put(
            "AWS/ApiGateway", "5xx", {"ApiId": "abc", "Stage": "$default"}, int(index < errors), timestamp=at
        )


def test_error_rate_alarm_uses_its_metric_math_over_one_second_periods_at_scale_60():
    alarm = Alarm.from_resource(ERROR_RATE, "us-east-1")
    metrics = RegionMetrics("us-east-1", None, retention_seconds=600)
    now = 1_000.0
    _requests(metrics, now - 2.5, 4, 1)  # oldest period: 25 %
    _requests(metrics, now - 1.5, 4, 0)  # middle: 0 %
    _requests(metrics, now - 0.5, 2, 2)  # newest: 100 %
    values = alarm.datapoints(metrics, now, scale=60)
    assert values == [0.25, 0.0, 1.0]
    flags = breaches(values, alarm.comparison, alarm.threshold)
    assert decide(flags, alarm.datapoints_to_alarm, alarm.treat_missing, alarm.state) == ALARM


def test_failed_logins_alarm_sums_a_five_second_window_at_scale_60():
    alarm = Alarm.from_resource(FAILED_LOGINS, "us-east-1")
    metrics = RegionMetrics("us-east-1", None, retention_seconds=600)
    for offset in (6.0, 4.0, 3.0, 2.0, 1.0, 0.5):
        metrics.put("active-active", "FailedLogins", {"service": "login"}, 1, timestamp=100 - offset)
    assert alarm.datapoints(metrics, 100.0, scale=60) == [5.0]  # the one 6 s ago is outside
    assert alarm.datapoints(metrics, 100.0, scale=1) == [6.0]


# What the functions receive


def _changed(resource: dict, state: str) -> Alarm:
    alarm = Alarm.from_resource(resource, "us-east-1")
    alarm.state, alarm.reason = state, "Threshold Crossed: test"
    alarm.changed = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    return alarm


def test_lambda_action_event_is_what_the_security_responder_parses():
    from security.logic import parse_alarm

    alarm = _changed(FAILED_LOGINS, ALARM)
    event = lambda_action_event(alarm, OK, "was fine", datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    change = parse_alarm(CloudWatchAlarmEvent(event))
    assert (change.name, change.state, change.region) == ("failed-logins-1", ALARM, "us-east-1")
    assert change.period_seconds == 300
    assert change.at == alarm.changed
    assert event["alarmData"]["previousState"]["value"] == OK


def test_sns_alarm_message_is_what_the_notifier_formats():
    from notifier.logic import message_for

    alarm = _changed(ERROR_RATE, ALARM)
    message = json.dumps(sns_message(alarm, OK))
    event = SNSEvent(sns_event("arn:aws:sns:us-east-1:123456789012:alarms", "sub", "ALARM", message))
    text, blocks = message_for(next(iter(event.records)).sns)
    assert text == ":rotating_light: ALARM: error-rate-1 in us-east-1"
    assert "IF(requests &gt; 0, errors / requests, 0)" in json.dumps(blocks)
    assert json.loads(message)["Trigger"]["EvaluationPeriods"] == 3
