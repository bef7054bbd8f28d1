"""SQS event source mappings, locally: a queue's messages to a Lambda function in batches, as the
deployed mapping configures them, with partial batch failures left on the queue.
"""

from __future__ import annotations

import time
from typing import Any

from localcloud.poller import Poller
from localcloud.runner import FunctionError, LocalFunction, Throttled, Unavailable


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
        except (FunctionError, Throttled, Unavailable):
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
