"""CloudWatch alarm actions, locally: on a state change an SNS topic delivers CloudWatch's alarm
JSON to its Lambda subscribers, and a Lambda function ARN gets the alarm Lambda-action event.
Both are asynchronous invocations.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.cloudwatch.alarms import ALARM, INSUFFICIENT_DATA, OK, Alarm
from localcloud.settings import ACCOUNT
from localcloud.sns import sns_event

log = logging.getLogger("localcloud.alarms")


REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}


def _aws_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def trigger(alarm: Alarm) -> dict[str, Any]:
    """The Trigger object of CloudWatch's SNS alarm message."""
    common = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "ComparisonOperator": alarm.comparison,
        "Threshold": alarm.threshold,
        "TreatMissingData": alarm.treat_missing,
        "EvaluateLowSampleCountPercentile": "",
    }
    if alarm.single_metric:
        query = alarm.queries[0]
        percentile = query.stat.lower().startswith("p")
        return {
            "MetricName": query.metric,
            "Namespace": query.namespace,
            "StatisticType": "ExtendedStatistic" if percentile else "Statistic",
            ("ExtendedStatistic" if percentile else "Statistic"): query.stat
            if percentile
            else query.stat.upper(),
            "Unit": None,
            "Dimensions": [{"value": value, "name": name} for name, value in query.dimensions],
            **common,
        }
    metrics = []
    for query in alarm.queries:
        item: dict[str, Any] = {"Id": query.id, "ReturnData": query.return_data}
        if query.expression is not None:
            item["Expression"] = query.expression.text
        else:
            item["MetricStat"] = {
                "Metric": {
                    "Dimensions": [{"value": value, "name": name} for name, value in query.dimensions],
                    "MetricName": query.metric,
                    "Namespace": query.namespace,
                },
                "Period": query.period,
                "Stat": query.stat,
            }
        if query.label:
            item["Label"] = query.label
        metrics.append(item)
    return {**common, "Metrics": metrics}


def sns_message(alarm: Alarm, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an SNS topic on a state change."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": _aws_time(alarm.changed),
        "NewStateValue": alarm.state,
        "NewStateReason": alarm.reason,
        "StateChangeTime": _aws_time(alarm.changed),
        "Region": REGION_NAMES.get(alarm.region, alarm.region),
        "AlarmArn": alarm.arn,
        "OldStateValue": old_state,
        "OKActions": alarm.actions[OK],
        "AlarmActions": alarm.actions[ALARM],
        "InsufficientDataActions": alarm.actions[INSUFFICIENT_DATA],
        "Trigger": trigger(alarm),
    }


def lambda_action_event(alarm: Alarm, old_state: str, old_reason: str, old_time: datetime) -> dict[str, Any]:
    """The event CloudWatch gives a Lambda function that is an alarm action."""
    metrics = []
    for query in alarm.queries:
        item: dict[str, Any] = {"id": query.id, "returnData": query.return_data}
        if query.expression is not None:
            item["expression"] = query.expression.text
            if query.label:
                item["label"] = query.label
        else:
            item["metricStat"] = {
                "metric": {
                    "namespace": query.namespace,
                    "name": query.metric,
                    "dimensions": dict(query.dimensions),
                },
                "period": query.period,
                "stat": query.stat,
            }
        metrics.append(item)
    return {
        "source": "aws.cloudwatch",
        "alarmArn": alarm.arn,
        "accountId": ACCOUNT,
        "time": _aws_time(alarm.changed),
        "region": alarm.region,
        "alarmData": {
            "alarmName": alarm.name,
            "state": {"value": alarm.state, "reason": alarm.reason, "timestamp": _aws_time(alarm.changed)},
            "previousState": {"value": old_state, "reason": old_reason, "timestamp": _aws_time(old_time)},
            "configuration": {"description": alarm.description, "metrics": metrics},
        },
    }


@dataclass
class Actions:
    """Carries out alarm actions: SNS topics to their Lambda subscribers, Lambda functions directly."""

    find_function: Callable[[str], Any]  # ARN -> LocalFunction | None
    subscriptions: dict[str, list[tuple[str, str]]]  # topic ARN -> [(subscription ARN, function ARN)]

    def run(self, alarm: Alarm, arn: str, old_state: str, old_reason: str, old_time: datetime) -> None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "sns":
            message = json.dumps(sns_message(alarm, old_state))
            subject = f'{alarm.state}: "{alarm.name}" in {REGION_NAMES.get(alarm.region, alarm.region)}'
            for subscription, endpoint in self.subscriptions.get(arn, []):
                function = self.find_function(endpoint)
                if function is None:
                    log.warning("SNS subscriber %s of %s is not a local function", endpoint, arn)
                    continue
                function.invoke_async(sns_event(arn, subscription, subject[:100], message))
        elif service == "lambda" and (function := self.find_function(arn)) is not None:
            function.invoke_async(lambda_action_event(alarm, old_state, old_reason, old_time))
        else:
            log.warning("alarm %s: action %s is not emulated", alarm.name, arn)
