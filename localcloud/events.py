"""Event delivery, locally: EventBridge rules to their targets, SQS event source mappings, and
SNS subscriptions, as the deployed resources configure them.

moto matches events to rules and puts them on each rule's tap queue (see the deployer); here
they are handed to the rule's real targets: Lambda functions are invoked asynchronously.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.runner import FunctionError, LocalFunction, Throttled

log = logging.getLogger("localcloud.events")


@dataclass
class RuleTarget:
    rule_arn: str
    tap_url: str
    functions: list[LocalFunction]


class Poller(threading.Thread):
    """A daemon thread that calls `step` until stopped, pausing after errors."""

    def __init__(self, name: str, step: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.step = step
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.step()
            except Exception:
                log.exception("%s failed; retrying", self.name)
                self.stopped.wait(1)

    def stop(self) -> None:
        self.stopped.set()


def eventbridge_delivery(sqs: Any, target: RuleTarget) -> Poller:
    """Hand each event the rule matched to every Lambda target, asynchronously."""

    def step() -> None:
        messages = sqs.receive_message(QueueUrl=target.tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            event = json.loads(message["Body"])
            for function in target.functions:
                function.invoke_async(event)
            sqs.delete_message(QueueUrl=target.tap_url, ReceiptHandle=message["ReceiptHandle"])

    return Poller(f"eventbridge {target.rule_arn.rsplit('/', 1)[-1]}", step)


def sqs_event_source(
    sqs: Any,
    queue_url: str,
    queue_arn: str,
    region: str,
    function: LocalFunction,
    batch_size: int,
    window_seconds: int,
    report_failures: bool,
) -> Poller:
    """An SQS event source mapping: batches to the function, partial failures left on the queue."""

    def step() -> None:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(batch_size, 10),
            WaitTimeSeconds=max(1, min(window_seconds, 20)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        event = {"Records": [_sqs_record(message, queue_arn, region) for message in messages]}
        try:
            response = function.invoke(event, wait=True)
        except (FunctionError, Throttled):
            return  # the whole batch becomes visible again after the visibility timeout
        failed = set()
        if report_failures and isinstance(response, dict):
            failed = {item.get("itemIdentifier") for item in response.get("batchItemFailures") or []}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return Poller(f"sqs {queue_arn.rsplit(':', 1)[-1]}", step)


def _sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "AIDALOCALCLOUD"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sns_event(topic_arn: str, subscription_arn: str, subject: str | None, message: str) -> dict[str, Any]:
    """The event SNS gives a Lambda subscriber."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"{time.time_ns()}",
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
                    "SignatureVersion": "1",
                    "MessageAttributes": {},
                },
            }
        ]
    }
