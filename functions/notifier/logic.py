"""CloudWatch alarm notifications (SNS) as Slack Block Kit messages.

A message that is a CloudWatch alarm state change becomes a header with the state's emoji and
the alarm's name, the reason, and fields for the region, the metric and threshold, and the
time. Anything else (the SNS console's test message, say) is posted as escaped plain text.

Environment:
- SLACK_WEBHOOK_PARAMETER: read by ``shared.slack``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from shared import aws, blockkit, slack

logger = Logger(child=True)

STATE_EMOJI = {
    "ALARM": ":rotating_light:",
    "OK": ":white_check_mark:",
    "INSUFFICIENT_DATA": ":grey_question:",
}
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": "≥",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "≤",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "below the band",
    "GreaterThanUpperThreshold": "above the band",
}
MAX_TEXT_CHARS = 2500  # Slack's section limit is 3000, after escaping


def message_for(sns: Mapping[str, Any]) -> slack.Message:
    """The Slack message for one SNS notification (a record's ``Sns``)."""
    try:
        alarm = json.loads(sns["Message"])
    except (TypeError, ValueError):
        alarm = None
    if isinstance(alarm, dict) and isinstance(alarm.get("AlarmName"), str) and alarm.get("NewStateValue"):
        return alarm_message(alarm)
    return plain_message(sns.get("Subject"), sns["Message"])


def alarm_message(alarm: dict[str, Any]) -> slack.Message:
    name = alarm["AlarmName"]
    state = str(alarm["NewStateValue"])
    region = _region(alarm)
    emoji = STATE_EMOJI.get(state, ":bell:")
    description = alarm.get("AlarmDescription")
    reason = blockkit.escape(
        blockkit.truncate(str(alarm.get("NewStateReason") or "no reason given"), MAX_TEXT_CHARS)
    )
    summary = f"*{blockkit.escape(blockkit.truncate(description, 300))}*\n{reason}" if description else reason
    blocks = [
        blockkit.header(f"{emoji} {state}: {name}"),
        blockkit.section(summary),
        blockkit.fields(
            {
                "Region": blockkit.escape(region),
                "Metric": _metric(alarm.get("Trigger")),
                "When": blockkit.escape(_when(alarm.get("StateChangeTime"))),
                "Previous state": blockkit.escape(str(alarm.get("OldStateValue") or "unknown")),
            }
        ),
    ]
    if aws.is_region_name(region):
        console = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#alarmsV2:alarm/{quote(name, safe='')}"
        )
        blocks.append(blockkit.context(f"<{console}|Open the alarm in CloudWatch>"))
    text = f"{emoji} {state}: {blockkit.escape(name)} in {blockkit.escape(region)}"
    return text, blocks


def plain_message(subject: str | None, message: str) -> slack.Message:
    text = blockkit.escape(blockkit.truncate(message or "(empty message)", MAX_TEXT_CHARS))
    return text, [blockkit.header(subject or "Notification from the alarm topic"), blockkit.section(text)]


def _region(alarm: dict[str, Any]) -> str:
    """The region code from the alarm's ARN; the message's own Region is a display name."""
    arn = alarm.get("AlarmArn")
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) > 3 and aws.is_region_name(parts[3]):
        return parts[3]
    return str(alarm.get("Region") or "unknown region")


def _metric(trigger: object) -> str:
    """What the alarm watches and when it fires, e.g. ```AWS/SQS ApproximateNumberOf…``` Maximum > 0."""
    if not isinstance(trigger, dict):
        return "unknown"
    if trigger.get("MetricName"):
        watched = f"{trigger.get('Namespace', '')} {trigger['MetricName']}".strip()
        statistic = str(trigger.get("Statistic") or trigger.get("ExtendedStatistic") or "")
        statistic = statistic.capitalize() if statistic.isupper() else statistic  # SNS sends "MAXIMUM"
    else:
        returned = [m for m in trigger.get("Metrics") or [] if isinstance(m, dict) and m.get("ReturnData")]
        first = returned[0] if returned else {}
        watched = str(first.get("Expression") or first.get("Label") or first.get("Id") or "metric math")
        statistic = ""
    comparison = COMPARISONS.get(str(trigger.get("ComparisonOperator")), "vs")
    threshold = trigger.get("Threshold")
    limit = f"{threshold:g}" if isinstance(threshold, int | float) else "?"
    periods = f"{trigger.get('EvaluationPeriods', '?')} periods of {trigger.get('Period', '?')} s"
    rule = " ".join(part for part in (statistic, comparison, limit) if part)
    escape = blockkit.escape
    return f"`{escape(blockkit.truncate(watched, 200))}`\n{escape(rule)} for {escape(periods)}"


def _when(value: object) -> str:
    if not isinstance(value, str):
        return "unknown"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return blockkit.truncate(value, 40)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Notifier:
    metrics: Metrics
    post: Callable[[str, list[dict[str, Any]]], None] = slack.post

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Posts each record's notification (the SNS event Lambda delivers:
        https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html)."""
        posted = 0
        for record in event["Records"]:
            sns = record["Sns"]
            text, blocks = message_for(sns)
            try:
                self.post(text, blocks)
            except slack.SlackDeliveryError:
                logger.exception(
                    "Slack did not accept the notification", extra={"snsMessageId": sns["MessageId"]}
                )
                raise
            self.metrics.add_metric(name="AlarmNotifications", unit=MetricUnit.Count, value=1)
            logger.info("notification posted to Slack", extra={"snsMessageId": sns["MessageId"]})
            posted += 1
        return {"posted": posted}
