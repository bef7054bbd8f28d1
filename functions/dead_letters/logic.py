"""Record each dead event in DynamoDB and alert Slack, once per SQS message.

A record arrives in one of two shapes:
- an EventBridge target dead letter: the body is the original event; message attributes
  ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS;
- a Lambda asynchronous invocation record (on-failure destination): the body holds
  ``requestContext``, ``requestPayload`` (the original event) and ``responsePayload``.

The item's key comes from the message itself (sent time and message id), so a redelivered
message finds its own item instead of writing a second one, and an item marked ``alertedAt``
is not posted to Slack again.

Environment:
- TABLE_NAME: the app's table.
- SLACK_WEBHOOK_PARAMETER: read by ``shared.slack``.
- AWS_REGION: named in the alert.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from shared import aws, blockkit, model, slack
from shared.text import noun

logger = Logger(child=True)

EVENTBRIDGE_TARGET = "eventbridge-target"
LAMBDA_ASYNC = "lambda-async"
UNKNOWN = "unknown"
MAX_BODY_BYTES = 8 * 1024
MAX_REASON_CHARS = 1000
ALERTED_AT = "alertedAt"


class MalformedDeadLetter(ValueError):
    """The message is not a dead event this handler can read."""


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent_at: datetime
    receive_count: int
    kind: str
    reason: str
    origin: str  # the rule (EventBridge) or the function (Lambda) that gave up
    event_id: str | None
    detail_type: str | None
    body: str

    @property
    def key(self) -> dict[str, dict[str, str]]:
        sent = self.sent_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            model.PARTITION_KEY: {"S": model.dead_letter_bucket(self.sent_at)},
            model.SORT_KEY: {"S": f"{sent}#{self.message_id}"},
        }

    def item(self) -> dict[str, dict[str, str]]:
        item = {
            **self.key,
            "kind": {"S": self.kind},
            "reason": {"S": self.reason},
            "origin": {"S": self.origin},
            "receiveCount": {"N": str(self.receive_count)},
            "body": {"S": _truncate_bytes(self.body, MAX_BODY_BYTES)},
            # From the sent time, not the clock: a redelivery writes the very same item.
            model.TTL_ATTRIBUTE: {"N": str(model.expires_at(self.sent_at, model.DEAD_LETTER_TTL))},
        }
        if self.event_id:
            item["eventId"] = {"S": self.event_id}
        if self.detail_type:
            item["detailType"] = {"S": self.detail_type}
        return item


# An SQS record as Lambda delivers it (``messageId``, ``body``, ``attributes``, ``messageAttributes``,
# ``eventSourceARN``: https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), read as a
# mapping: Powertools' SQSRecord reads the same keys, but importing it loads every event data class.
Record = Mapping[str, Any]


def parse(record: Record) -> DeadLetter:
    """What the record says about the dead event, or MalformedDeadLetter."""
    try:
        body = json.loads(record["body"])
    except (TypeError, ValueError, RecursionError) as error:
        raise MalformedDeadLetter("message body is not JSON") from error
    if not isinstance(body, dict):
        raise MalformedDeadLetter("message body is not a JSON object")
    try:
        sent_at = datetime.fromtimestamp(int(record["attributes"]["SentTimestamp"]) / 1000, UTC)
        receive_count = int(record["attributes"]["ApproximateReceiveCount"])
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as error:  # the last two: out of range
        raise MalformedDeadLetter("message lacks SentTimestamp or ApproximateReceiveCount") from error

    attributes = record["messageAttributes"]
    if isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
        kind, original = LAMBDA_ASYNC, body.get("requestPayload")
        reason, origin = _lambda_failure(body)
    elif attributes.get("ERROR_CODE") or attributes.get("RULE_ARN") or "detail-type" in body:
        kind, original = EVENTBRIDGE_TARGET, body
        reason, origin = _eventbridge_failure(record)
    else:
        kind, original = UNKNOWN, body
        reason, origin = "unrecognised dead letter", record["eventSourceARN"]
    event_id, detail_type = _event_identity(original)
    return DeadLetter(
        message_id=record["messageId"],
        sent_at=sent_at,
        receive_count=receive_count,
        kind=kind,
        reason=reason[:MAX_REASON_CHARS],
        origin=origin,
        event_id=event_id,
        detail_type=detail_type,
        body=record["body"],
    )


def _lambda_failure(body: dict[str, Any]) -> tuple[str, str]:
    context = body["requestContext"]
    response = body.get("responsePayload")
    condition = str(context.get("condition") or "failed")
    parts = [response.get("errorType"), response.get("errorMessage")] if isinstance(response, dict) else []
    reason = ": ".join(str(part) for part in parts if part) or condition
    attempts = context.get("approximateInvokeCount")
    if attempts is not None:
        reason = f"{reason} ({condition} after {attempts} {noun(attempts, 'attempt')})"
    return reason, str(context.get("functionArn") or "unknown function")


def _eventbridge_failure(record: Record) -> tuple[str, str]:
    def attribute(name: str) -> str:
        value = record["messageAttributes"].get(name)
        return (value["stringValue"] or "") if value else ""

    reason = ": ".join(part for part in (attribute("ERROR_CODE"), attribute("ERROR_MESSAGE")) if part)
    condition, attempts = attribute("EXHAUSTED_RETRY_CONDITION"), attribute("RETRY_ATTEMPTS")
    if condition:
        retries = noun(int(attempts) if attempts.isdecimal() else attempts, "retry", "retries")
        reason = f"{reason or 'delivery failed'} ({condition} after {attempts or '?'} {retries})"
    return reason or "delivery failed", attribute("RULE_ARN") or attribute("TARGET_ARN") or "unknown rule"


def _event_identity(original: object) -> tuple[str | None, str | None]:
    """The EventBridge event's ``detail.eventId`` and ``detail-type``, when it is one."""
    if not isinstance(original, dict):
        return None, None
    detail = original.get("detail")
    event_id = detail.get("eventId") if isinstance(detail, dict) else None
    detail_type = original.get("detail-type")
    return (
        event_id[:64] if isinstance(event_id, str) else None,
        detail_type[:128] if isinstance(detail_type, str) else None,
    )


def _truncate_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def alert(letter: DeadLetter, region: str) -> slack.Message:
    """The Slack message for one dead event: fallback text and Block Kit blocks."""
    origin_label = {EVENTBRIDGE_TARGET: "Rule", LAMBDA_ASYNC: "Function"}.get(letter.kind, "Source")
    reason = blockkit.escape(blockkit.truncate(letter.reason, 500))
    event_id = f"`{blockkit.escape(letter.event_id)}`" if letter.event_id else "none"
    sent = letter.sent_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    blocks = [
        blockkit.header(f"Dead event in {region}"),
        blockkit.fields(
            {
                "Kind": letter.kind,
                "Event id": event_id,
                "Reason": reason,
                origin_label: f"`{blockkit.escape(blockkit.truncate(letter.origin, 300))}`",
            }
        ),
        blockkit.context(
            f"{blockkit.escape(letter.detail_type or 'no detail-type')} · SQS message "
            f"`{blockkit.escape(letter.message_id)}` · sent {sent} · receive count {letter.receive_count}"
        ),
    ]
    return f"Dead event in {region} ({letter.kind}): {reason}", blocks


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeadLetterHandler:
    """The batch's record handler (``shared.batch``): record, count, alert, mark alerted."""

    dynamodb: Any
    table_name: str
    region: str
    metrics: Metrics
    post: Callable[[str, list[dict[str, Any]]], None] = slack.post
    clock: Callable[[], datetime] = _now

    @classmethod
    def from_environment(cls, metrics: Metrics) -> DeadLetterHandler:
        return cls(
            dynamodb=aws.client("dynamodb"),
            table_name=os.environ["TABLE_NAME"],
            region=aws.region(),
            metrics=metrics,
        )

    def __call__(self, record: Record) -> str:
        try:
            return self._handle(record)
        except Exception:
            # shared.batch reports the record as a batch item failure and SQS delivers it again;
            # the traceback is logged here.
            logger.exception(
                "dead event not handled; it will be delivered again", extra={"messageId": record["messageId"]}
            )
            raise

    def _handle(self, record: Record) -> str:
        letter = parse(record)
        item = letter.item()
        previous = self.record(item)
        if previous is None:
            self.metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)
            logger.info("dead event recorded", extra=_log_fields(letter))
        elif ALERTED_AT in previous:
            logger.info("dead event already recorded and alerted", extra=_log_fields(letter))
            return letter.message_id
        text, blocks = alert(letter, self.region)
        self.post(text, blocks)
        # Marked only after Slack accepted it: a failed post leaves the message to come back.
        item[ALERTED_AT] = {"S": self.clock().isoformat(timespec="seconds")}
        self.dynamodb.put_item(TableName=self.table_name, Item=item)
        return letter.message_id

    def record(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """Store the item unless it exists; None when new, else the stored item."""
        try:
            self.dynamodb.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": model.PARTITION_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            return error.response.get("Item", {})
        return None


def _log_fields(letter: DeadLetter) -> dict[str, Any]:
    return {"messageId": letter.message_id, "kind": letter.kind, "eventId": letter.event_id}
