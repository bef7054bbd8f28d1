"""The dead letter handler: each dead event recorded once and alerted, failures per record."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
from conftest import PRIMARY, TABLE, WEBHOOK_URL, load_event
from webhook_helpers import all_text, emitted_metrics

TARGET_ID = "2e1424d4-f796-459a-8184-9c92662be6da"
ASYNC_ID = "059f36b4-87a3-44ab-83d2-661975830a7d"
RULE_ARN = (
    "arn:aws:events:us-east-1:123456789012:rule/active-active-bus-4f1c2e7/active-active-page-viewed-9a8b7c6"
)
WRITER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:active-active-writer-1a2b3c4:$LATEST"


@pytest.fixture
def handler():
    from dead_letters.app import handler

    return handler


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [copy.deepcopy(record) for record in records]}


def dead_records() -> tuple[dict[str, Any], dict[str, Any]]:
    target, lambda_async = load_event("sqs_dead_letters.json")["Records"]
    return target, lambda_async


def with_body(record: dict[str, Any], body: str, message_id: str) -> dict[str, Any]:
    return {**copy.deepcopy(record), "body": body, "messageId": message_id, "messageAttributes": {}}


def dead_items() -> dict[str, dict[str, Any]]:
    """Recorded dead letters by message id."""
    items = boto3.client("dynamodb", region_name=PRIMARY).scan(TableName=TABLE)["Items"]
    return {item["sk"]["S"].rsplit("#", 1)[1]: item for item in items if item["pk"]["S"].startswith("DEAD#")}


def test_both_dlq_shapes_recorded(aws, context, handler, slack_webhook, capsys):
    from shared import model

    response = handler(load_event("sqs_dead_letters.json"), context)

    assert response == {"batchItemFailures": []}
    items = dead_items()
    assert set(items) == {TARGET_ID, ASYNC_ID}
    target, lambda_async = items[TARGET_ID], items[ASYNC_ID]
    assert target["pk"] == {"S": "DEAD#2026-11-25"}
    assert target["sk"] == {"S": f"2026-11-25T09:05:00.123Z#{TARGET_ID}"}
    assert target["kind"] == {"S": "eventbridge-target"}
    assert target["eventId"] == {"S": "3c1d9e2f-7a4b-4c8d-9e0f-1a2b3c4d5e6f"}
    assert target["detailType"] == {"S": "PageViewed"}
    assert target["reason"]["S"].startswith("THROTTLING: Rate Exceeded.")
    assert "MaximumRetryAttempts after 8 retries" in target["reason"]["S"]
    assert target["origin"] == {"S": RULE_ARN}
    assert target["receiveCount"] == {"N": "1"}
    assert json.loads(target["body"]["S"])["detail"]["eventId"] == "3c1d9e2f-7a4b-4c8d-9e0f-1a2b3c4d5e6f"
    ninety_days = model.DEAD_LETTER_TTL.total_seconds()
    assert int(target[model.TTL_ATTRIBUTE]["N"]) == int(1_795_597_500.123 + ninety_days)
    assert lambda_async["kind"] == {"S": "lambda-async"}
    assert lambda_async["eventId"] == {"S": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"}
    assert lambda_async["detailType"] == {"S": "PageViewed"}
    assert lambda_async["reason"]["S"] == (
        "InjectedWriterFailure: injected writer failure (writerFailureRate 1.0)"
        " (RetriesExhausted after 3 attempts)"
    )
    assert lambda_async["origin"] == {"S": WRITER_ARN}
    assert "alertedAt" in target
    assert "alertedAt" in lambda_async
    assert emitted_metrics(capsys.readouterr().out) == {"DeadLetters": 2}


def test_each_dead_event_posts_one_block_kit_alert(aws, context, handler, slack_webhook):
    handler(load_event("sqs_dead_letters.json"), context)

    assert slack_webhook.urls == [WEBHOOK_URL, WEBHOOK_URL]
    target, lambda_async = slack_webhook.messages
    assert target["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Dead event in us-east-1"},
    }
    fields = [field["text"] for field in target["blocks"][1]["fields"]]
    assert fields[0] == "*Kind*\neventbridge-target"
    assert fields[1] == "*Event id*\n`3c1d9e2f-7a4b-4c8d-9e0f-1a2b3c4d5e6f`"
    assert fields[2].startswith("*Reason*\nTHROTTLING: Rate Exceeded.")
    assert fields[3] == f"*Rule*\n`{RULE_ARN}`"
    assert "eventbridge-target" in target["text"]
    async_fields = [field["text"] for field in lambda_async["blocks"][1]["fields"]]
    assert async_fields[0] == "*Kind*\nlambda-async"
    assert async_fields[2].startswith("*Reason*\nInjectedWriterFailure: injected writer failure")
    assert async_fields[3] == f"*Function*\n`{WRITER_ARN}`"


@pytest.mark.parametrize("body", ["not json {", "[1, 2, 3]", '"just a string"', "null"])
def test_one_bad_dlq_record_does_not_fail_its_batch(aws, context, handler, slack_webhook, body):
    target, lambda_async = dead_records()
    bad = with_body(target, body, "6b1f3b43-0c2b-4b6f-9f53-2d2f0c3a1e11")

    response = handler(batch(target, bad, lambda_async), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "6b1f3b43-0c2b-4b6f-9f53-2d2f0c3a1e11"}]}
    assert set(dead_items()) == {TARGET_ID, ASYNC_ID}
    assert len(slack_webhook.messages) == 2


def test_dlq_redelivery_of_same_message_records_once(aws, context, handler, slack_webhook, capsys):
    first = load_event("sqs_dead_letters.json")
    again = copy.deepcopy(first)
    for record in again["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"

    handler(first, context)
    response = handler(again, context)

    assert response == {"batchItemFailures": []}
    assert set(dead_items()) == {TARGET_ID, ASYNC_ID}
    assert len(slack_webhook.messages) == 2  # already alerted: not posted again
    assert emitted_metrics(capsys.readouterr().out) == {"DeadLetters": 2}


def test_webhook_failure_fails_only_that_dlq_record(aws, context, handler, slack_webhook):
    slack_webhook.answers = [500]

    response = handler(load_event("sqs_dead_letters.json"), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": TARGET_ID}]}
    items = dead_items()
    assert set(items) == {TARGET_ID, ASYNC_ID}  # recorded before the alert failed
    assert "alertedAt" not in items[TARGET_ID]
    assert "alertedAt" in items[ASYNC_ID]


def test_record_whose_alert_failed_is_alerted_when_redelivered(aws, context, handler, slack_webhook, capsys):
    target, _ = dead_records()
    slack_webhook.status = 500
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):  # the whole batch failed: Lambda retries all of it
        handler(batch(target), context)
    slack_webhook.status = 200
    redelivered = copy.deepcopy(target)
    redelivered["attributes"]["ApproximateReceiveCount"] = "2"
    response = handler(batch(redelivered), context)

    assert response == {"batchItemFailures": []}
    assert slack_webhook.attempts == 2
    assert len(slack_webhook.messages) == 1
    assert "alertedAt" in dead_items()[TARGET_ID]
    assert emitted_metrics(capsys.readouterr().out) == {"DeadLetters": 1}


def test_dead_letter_of_unknown_shape_is_recorded_and_alerted(aws, context, handler, slack_webhook):
    target, _ = dead_records()
    odd = with_body(target, json.dumps({"hello": "world"}), "7c2a4d5e-1f3b-4a6c-8d9e-0f1a2b3c4d5e")

    response = handler(batch(odd), context)

    assert response == {"batchItemFailures": []}
    item = dead_items()["7c2a4d5e-1f3b-4a6c-8d9e-0f1a2b3c4d5e"]
    assert item["kind"] == {"S": "unknown"}
    assert "eventId" not in item
    assert "*Source*" in all_text(slack_webhook.last)


def test_alert_escapes_untrusted_error_text(aws, context, handler, slack_webhook):
    target, _ = dead_records()
    target["messageAttributes"]["ERROR_MESSAGE"]["stringValue"] = (
        "boom <!channel> & `rm -rf` <https://evil|x>"
    )

    handler(batch(target), context)

    text = all_text(slack_webhook.last)
    assert "<!channel>" not in text
    assert "<https://evil" not in text
    assert "`rm" not in text
    assert "&lt;!channel&gt; &amp;" in text


def test_large_body_is_stored_truncated_to_8_kb(aws, context, handler, slack_webhook):
    target, _ = dead_records()
    event = json.loads(target["body"])
    event["detail"]["padding"] = "é" * 10_000
    target["body"] = json.dumps(event, ensure_ascii=False)

    handler(batch(target), context)

    stored = dead_items()[TARGET_ID]["body"]["S"]
    assert len(stored.encode("utf-8")) <= 8 * 1024
    assert target["body"].startswith(stored)


def test_one_attempt_and_one_retry_are_told_in_the_singular(aws, context, handler, slack_webhook):
    target, lambda_async = dead_records()
    target["messageAttributes"]["RETRY_ATTEMPTS"]["stringValue"] = "1"
    body = json.loads(lambda_async["body"])
    body["requestContext"]["approximateInvokeCount"] = 1
    lambda_async["body"] = json.dumps(body)

    handler(batch(target, lambda_async), context)

    items = dead_items()
    assert items[TARGET_ID]["reason"]["S"].endswith("(MaximumRetryAttempts after 1 retry)")
    assert items[ASYNC_ID]["reason"]["S"].endswith("(RetriesExhausted after 1 attempt)")


def test_async_record_without_response_uses_its_condition(aws, context, handler, slack_webhook):
    _, lambda_async = dead_records()
    body = json.loads(lambda_async["body"])
    body["requestContext"]["condition"] = "EventAgeExceeded"
    del body["requestContext"]["approximateInvokeCount"]
    del body["responseContext"], body["responsePayload"]
    # The notifier's own failures land here too: its payload is an SNS event, not a page view.
    body["requestPayload"] = load_event("sns_alarm.json")
    lambda_async["body"] = json.dumps(body)

    handler(batch(lambda_async), context)

    item = dead_items()[ASYNC_ID]
    assert item["reason"] == {"S": "EventAgeExceeded"}
    assert "eventId" not in item
    assert "detailType" not in item
    assert "*Event id*\nnone" in all_text(slack_webhook.last)


def test_async_record_with_a_non_object_payload_is_recorded(aws, context, handler, slack_webhook):
    _, lambda_async = dead_records()
    body = json.loads(lambda_async["body"])
    body["requestPayload"] = "a plain string payload"
    lambda_async["body"] = json.dumps(body)

    response = handler(batch(lambda_async), context)

    assert response == {"batchItemFailures": []}
    assert dead_items()[ASYNC_ID]["kind"] == {"S": "lambda-async"}
    assert "eventId" not in dead_items()[ASYNC_ID]


def test_record_without_sent_timestamp_fails_alone(aws, context, handler, slack_webhook):
    target, lambda_async = dead_records()
    del target["attributes"]["SentTimestamp"]

    response = handler(batch(target, lambda_async), context)

    assert response == {"batchItemFailures": [{"itemIdentifier": TARGET_ID}]}
    assert set(dead_items()) == {ASYNC_ID}
