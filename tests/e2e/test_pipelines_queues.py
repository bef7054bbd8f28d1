"""The SQS event source mapping end to end: a batch on the dead letter queue with one poisoned
record. The handler reports that record alone as failed; the others are deleted, recorded and
alerted, and the poisoned one stays on the queue for another try."""

from __future__ import annotations

import json
import time
import uuid

import pytest

pytestmark = pytest.mark.e2e


def _queue_url(cloud, region: str) -> str:
    graph = json.loads((cloud.state_dir / region / "graph.json").read_text())
    (queue,) = [
        r
        for r in graph["resources"]
        if r["type"] == "aws:sqs/queue:Queue" and r["name"] == "dead-letters-queue"
    ]
    return queue["outputs"]["url"]


def _eventbridge_dead_letter(event_id: str) -> dict:
    return {
        "MessageBody": json.dumps(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "PageViewed",
                "source": "active-active.clicks",
                "account": "123456789012",
                "time": "2026-11-25T10:00:00Z",
                "region": "us-west-2",
                "resources": [],
                "detail": {"eventId": event_id, "userId": "u-1", "username": "demo", "region": "us-west-2"},
            }
        ),
        "MessageAttributes": {
            "ERROR_CODE": {"DataType": "String", "StringValue": "ThrottlingException"},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Rate exceeded"},
            "RULE_ARN": {
                "DataType": "String",
                "StringValue": "arn:aws:events:us-west-2:123456789012:rule/bus/r",
            },
            "TARGET_ARN": {
                "DataType": "String",
                "StringValue": "arn:aws:lambda:us-west-2:123456789012:function:w",
            },
        },
    }


def test_one_poisoned_record_is_retried_alone_and_the_rest_are_deleted(cloud):
    sqs = cloud.aws("sqs", "us-west-2")
    url = _queue_url(cloud, "us-west-2")
    good = [str(uuid.uuid4()), str(uuid.uuid4())]
    before = len(cloud.inbox())
    entries = [
        {"Id": "good-1", **_eventbridge_dead_letter(good[0])},
        {"Id": "poison", "MessageBody": "this is not an EventBridge event"},
        {"Id": "good-2", **_eventbridge_dead_letter(good[1])},
    ]
    assert not sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")

    deadline = time.monotonic() + 30
    alerted: set[str] = set()
    while time.monotonic() < deadline and alerted != set(good):
        alerted = {event_id for event_id in good for m in cloud.inbox()[before:] if event_id in json.dumps(m)}
        time.sleep(0.5)
    assert alerted == set(good), "the good records were not recorded and alerted within 30 s"

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # Only the poisoned record is left: in flight until its visibility timeout, then retried.
    assert (
        int(attributes["ApproximateNumberOfMessages"])
        + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        == 1
    )
