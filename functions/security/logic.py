"""Failed-login alarm: who failed to log in, and from where, during the alarm's window.

The window ends at the alarm's state change and lasts the alarmed metric's period (or
SECURITY_WINDOW_MINUTES when the event carries none). Login attempts live in one partition per
UTC minute, so the window is read with one query per minute; attempts outside the window and
successful ones are left out.

Environment:
- TABLE_NAME: the app's table (login attempts, written by the login function).
- SLACK_WEBHOOK_PARAMETER: read by ``shared.slack``.
- SECURITY_WINDOW_MINUTES: optional, the window when the event has no period (default 5).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from shared import aws, blockkit, model, slack
from shared.text import counted, noun

logger = Logger(child=True)

DEFAULT_WINDOW_MINUTES = 5
MAX_WINDOW_MINUTES = 60  # one query per minute: bound the work a long period could ask for
TOP = 5
MAX_NAME_CHARS = 64
UNKNOWN = "(unknown)"


class MalformedAlarmEvent(ValueError):
    """The event is not a CloudWatch alarm state change this responder understands."""


@dataclass(frozen=True)
class AlarmChange:
    name: str
    state: str
    reason: str
    at: datetime
    region: str
    period_seconds: int | None


@dataclass(frozen=True)
class LoginAttempt:
    username: str
    source_ip: str
    success: bool
    at: datetime


@dataclass(frozen=True)
class Offenders:
    total: int
    usernames: list[tuple[str, int]]
    source_ips: list[tuple[str, int]]


def parse_alarm(event: Mapping[str, Any]) -> AlarmChange:
    """The alarm action's event (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    AlarmThatSendsEmail.html#alarms-and-actions-Lambda), read as Powertools' CloudWatchAlarmEvent
    reads it; importing that loads every event data class."""
    try:
        data = event["alarmData"]
        state = data["state"]
        change = AlarmChange(
            name=data["alarmName"],
            state=state["value"],
            reason=state.get("reason") or "",
            at=_utc(state["timestamp"]),
            region=event["region"],
            period_seconds=_period(data["configuration"].get("metrics") or []),
        )
    except KeyError as error:
        raise MalformedAlarmEvent(f"not a CloudWatch alarm event: missing {error}") from error
    except (TypeError, AttributeError, ValueError) as error:
        raise MalformedAlarmEvent(
            "not a CloudWatch alarm event: a field has the wrong type or format"
        ) from error
    if not all(isinstance(value, str) and value for value in (change.name, change.state)):
        raise MalformedAlarmEvent("alarm name and state must be non-empty strings")
    if not aws.is_region_name(change.region):
        raise MalformedAlarmEvent("region must be an AWS region name")
    return change


def _utc(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return moment.astimezone(UTC)


def _period(metrics: list[Any]) -> int | None:
    """The period of the first metric the alarm evaluates, in seconds."""
    for metric in metrics:
        if metric.get("metricStat"):
            period = metric["metricStat"].get("period")
            if isinstance(period, int) and not isinstance(period, bool) and period > 0:
                return period
    return None


def window(change: AlarmChange, default_minutes: int) -> tuple[datetime, datetime]:
    """[start, end): the alarmed period (or the default) ending at the state change."""
    minutes = math.ceil(change.period_seconds / 60) if change.period_seconds else default_minutes
    minutes = max(1, min(minutes, MAX_WINDOW_MINUTES))
    return change.at - timedelta(minutes=minutes), change.at


def minutes_of(start: datetime, end: datetime) -> Iterator[datetime]:
    """Each UTC minute that overlaps [start, end)."""
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        yield minute
        minute += timedelta(minutes=1)


def read_attempts(dynamodb: Any, table_name: str, start: datetime, end: datetime) -> Iterator[LoginAttempt]:
    """Failed login attempts made in [start, end), one query per minute partition. The successful
    ones stay in DynamoDB (a filter expression): a busy minute holds mostly those, and each one
    sent back cost the query's answer, its parsing here and, locally, moto's time."""
    paginator = dynamodb.get_paginator("query")
    for minute in minutes_of(start, end):
        pages = paginator.paginate(
            TableName=table_name,
            KeyConditionExpression="#pk = :bucket",
            # What _attempt reads as a failure: success missing or anything but true.
            FilterExpression="attribute_not_exists(#success) OR #success <> :succeeded",
            ProjectionExpression="#username, #success, #sourceIp, #at",
            ExpressionAttributeNames={
                "#pk": model.PARTITION_KEY,
                "#username": "username",
                "#success": "success",
                "#sourceIp": "sourceIp",
                "#at": "at",
            },
            ExpressionAttributeValues={
                ":bucket": {"S": model.login_bucket(minute)},
                ":succeeded": {"BOOL": True},
            },
        )
        for page in pages:
            for item in page.get("Items", []):
                attempt = _attempt(item)
                if attempt and start <= attempt.at < end:
                    yield attempt


def _attempt(item: dict[str, Any]) -> LoginAttempt | None:
    try:
        at = _utc(item["at"]["S"])
    except (KeyError, TypeError, ValueError):
        return None  # not a login attempt this code wrote; never guess its time
    return LoginAttempt(
        username=item.get("username", {}).get("S") or UNKNOWN,
        source_ip=item.get("sourceIp", {}).get("S") or UNKNOWN,
        success=item.get("success", {}).get("BOOL") is True,
        at=at,
    )


def count_failures(attempts: Iterable[LoginAttempt], top: int = TOP) -> Offenders:
    usernames: Counter[str] = Counter()
    source_ips: Counter[str] = Counter()
    for attempt in attempts:
        if not attempt.success:
            usernames[attempt.username] += 1
            source_ips[attempt.source_ip] += 1
    return Offenders(
        total=sum(usernames.values()),
        usernames=usernames.most_common(top),
        source_ips=source_ips.most_common(top),
    )


def shown(value: str) -> str:
    """User-controlled text for mrkdwn: one line, short, inert, in a code span."""
    printable = "".join(char if char.isprintable() else "\N{REPLACEMENT CHARACTER}" for char in value)
    return f"`{blockkit.escape(blockkit.truncate(printable, MAX_NAME_CHARS))}`"


def _ranking(counts: list[tuple[str, int]]) -> str:
    if not counts:
        return "none"
    return "\n".join(
        f"{rank}. {shown(value)} ({count})" for rank, (value, count) in enumerate(counts, start=1)
    )


def alarm_report(change: AlarmChange, start: datetime, end: datetime, offenders: Offenders) -> slack.Message:
    minutes = round((end - start).total_seconds() / 60)
    span = f"from {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC"
    text = (
        f"{counted(offenders.total, 'failed login')} in {change.region} "
        f"in the last {counted(minutes, 'minute')}"
    )
    blocks = [
        blockkit.header(f":lock: Failed logins over threshold in {change.region}"),
        blockkit.section(
            f"*{offenders.total}* failed login {noun(offenders.total, 'attempt')} "
            f"in the {counted(minutes, 'minute')} {span}."
        ),
        blockkit.fields(
            {
                f"Top {TOP} usernames": _ranking(offenders.usernames),
                f"Top {TOP} source IPs": _ranking(offenders.source_ips),
            }
        ),
        blockkit.context(
            f"Alarm `{blockkit.escape(change.name)}`: "
            f"{blockkit.escape(blockkit.truncate(change.reason, 500))}"
        ),
    ]
    return text, blocks


def recovery_report(change: AlarmChange) -> slack.Message:
    text = f"Failed logins back to normal in {change.region}"
    blocks = [
        blockkit.header(f":white_check_mark: {text}"),
        blockkit.context(
            f"Alarm `{blockkit.escape(change.name)}` is OK since {change.at:%Y-%m-%d %H:%M:%S} UTC: "
            f"{blockkit.escape(blockkit.truncate(change.reason, 500))}"
        ),
    ]
    return text, blocks


def _window_minutes() -> int:
    return int(os.environ.get("SECURITY_WINDOW_MINUTES", str(DEFAULT_WINDOW_MINUTES)))


@dataclass
class SecurityResponder:
    dynamodb: Any
    table_name: str
    window_minutes: int
    metrics: Metrics
    post: Callable[[str, list[dict[str, Any]]], None] = slack.post

    @classmethod
    def from_environment(cls, metrics: Metrics) -> SecurityResponder:
        return cls(
            dynamodb=aws.client("dynamodb"),
            table_name=os.environ["TABLE_NAME"],
            window_minutes=_window_minutes(),
            metrics=metrics,
        )

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            change = parse_alarm(event)
        except MalformedAlarmEvent as error:
            logger.error("rejected a malformed alarm event", extra={"reason": str(error)})
            raise
        if change.state == "ALARM":
            start, end = window(change, self.window_minutes)
            offenders = count_failures(read_attempts(self.dynamodb, self.table_name, start, end))
            text, blocks = alarm_report(change, start, end, offenders)
            summary: dict[str, Any] = {"state": change.state, "posted": True, "failedLogins": offenders.total}
        elif change.state == "OK":
            text, blocks = recovery_report(change)
            summary = {"state": change.state, "posted": True}
        else:
            logger.info("alarm state needs no report", extra={"alarm": change.name, "state": change.state})
            return {"state": change.state, "posted": False}
        self.post(text, blocks)
        self.metrics.add_metric(name="SecurityReports", unit=MetricUnit.Count, value=1)
        logger.info("security report posted", extra={"alarm": change.name, **summary})
        return summary
