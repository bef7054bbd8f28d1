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
from localcloud.iam.deliveries import Deliveries
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
    """Carries out alarm actions: SNS topics to their Lambda subscribers, Lambda functions directly,
    each only where the resource policies let the delivering service do it (``deliveries``): the
    topic's policy and key policy for CloudWatch, the function's for SNS or CloudWatch."""

    find_function: Callable[[str], Any]  # ARN -> LocalFunction | None
    subscriptions: dict[str, list[tuple[str, str]]]  # topic ARN -> [(subscription ARN, function ARN)]
    deliveries: Deliveries

    def run(self, alarm: Alarm, arn: str, old_state: str, old_reason: str, old_time: datetime) -> None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "sns":
            refusal = self.deliveries.topic_refusal(arn, "cloudwatch.amazonaws.com", alarm.arn)
            if refusal is not None:
                # As the alarm's history says it in AWS: "Failed to execute action ...".
                log.error("alarm %s: failed to execute action %s: %s", alarm.name, arn, refusal)
                return
            message = json.dumps(sns_message(alarm, old_state))
            subject = f'{alarm.state}: "{alarm.name}" in {REGION_NAMES.get(alarm.region, alarm.region)}'
            for subscription, endpoint in self.subscriptions.get(arn, []):
                function = self.find_function(endpoint)
                if function is None:
                    log.warning("SNS subscriber %s of %s is not a local function", endpoint, arn)
                    continue
                if not self._may_invoke(function, "sns.amazonaws.com", arn):
                    continue
                function.invoke_async(sns_event(arn, subscription, subject[:100], message))
        elif service == "lambda" and (function := self.find_function(arn)) is not None:
            # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-actions-Lambda
            if self._may_invoke(function, "lambda.alarms.cloudwatch.amazonaws.com", alarm.arn):
                function.invoke_async(lambda_action_event(alarm, old_state, old_reason, old_time))
        else:
            log.warning("alarm %s: action %s is not emulated", alarm.name, arn)

    def _may_invoke(self, function: Any, service: str, source_arn: str) -> bool:
        if self.deliveries.may_invoke(function.spec.name, function.spec.arn, service, source_arn):
            return True
        log.error(
            "%s may not invoke %s for %s: no statement of its resource policy allows it",
            service,
            function.spec.name,
            source_arn,
        )
        return False
