"""The alarm notifier: CloudWatch alarm notifications from SNS to Slack as Block Kit."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import WEBHOOK_URL, load_event
from webhook_helpers import all_text, capture_logs, emitted_metrics


@pytest.fixture
def handler():
    from notifier.app import handler

    return handler


def with_message(name: str, message: str, subject: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event(name))
    event["Records"][0]["Sns"]["Message"] = message
    if subject is not None:
        event["Records"][0]["Sns"]["Subject"] = subject
    return event


def alarm_in(name: str) -> dict[str, Any]:
    return json.loads(load_event(name)["Records"][0]["Sns"]["Message"])


def test_notifier_posts_block_kit_for_alarm(aws, context, handler, slack_webhook, capsys):
    result = handler(load_event("sns_alarm.json"), context)

    assert result == {"posted": 1}
    assert slack_webhook.urls == [WEBHOOK_URL]
    message = slack_webhook.last
    assert (
        message["text"]
        == ":rotating_light: ALARM: active-active-monitoring-dlq-not-empty-7a8b9c0 in us-east-1"
    )
    header, summary, fields, link = message["blocks"]
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":rotating_light: ALARM: active-active-monitoring-dlq-not-empty-7a8b9c0",
        },
    }
    assert summary["text"]["text"] == (
        "*Events are waiting in the dead letter queue*\n"
        "Threshold Crossed: 1 datapoint [2.0 (25/11/26 10:05:00)] was greater than the threshold (0.0)."
    )
    assert [field["text"] for field in fields["fields"]] == [
        "*Region*\nus-east-1",
        "*Metric*\n`AWS/SQS ApproximateNumberOfMessagesVisible`\nMaximum &gt; 0 for 1 periods of 60 s",
        "*When*\n2026-11-25 10:06:00 UTC",
        "*Previous state*\nOK",
    ]
    assert link["elements"][0]["text"] == (
        "<https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#alarmsV2:alarm/active-active-monitoring-dlq-not-empty-7a8b9c0|Open the alarm in CloudWatch>"
    )
    assert emitted_metrics(capsys.readouterr().out) == {"AlarmNotifications": 1}


def test_notifier_posts_block_kit_for_ok_with_metric_math(aws, context, handler, slack_webhook):
    handler(load_event("sns_alarm_error_rate_ok.json"), context)

    message = slack_webhook.last
    assert (
        message["text"] == ":white_check_mark: OK: active-active-monitoring-error-rate-1b2c3d4 in us-west-2"
    )
    assert message["blocks"][0]["text"]["text"] == (
        ":white_check_mark: OK: active-active-monitoring-error-rate-1b2c3d4"
    )
    fields = [field["text"] for field in message["blocks"][2]["fields"]]
    assert fields == [
        "*Region*\nus-west-2",
        "*Metric*\n`errors / MAX([requests, 1])`\n&gt; 0.05 for 3 periods of 60 s",
        "*When*\n2026-11-25 10:20:00 UTC",
        "*Previous state*\nALARM",
    ]


def test_notifier_marks_insufficient_data_with_a_question(aws, context, handler, slack_webhook):
    alarm = alarm_in("sns_alarm.json")
    alarm.update(NewStateValue="INSUFFICIENT_DATA", AlarmDescription=None, Trigger=None)
    del alarm["StateChangeTime"]

    handler(with_message("sns_alarm.json", json.dumps(alarm)), context)

    message = slack_webhook.last
    assert message["text"].startswith(":grey_question: INSUFFICIENT_DATA: ")
    assert message["blocks"][1]["text"]["text"].startswith("Threshold Crossed")  # no description line
    fields = [field["text"] for field in message["blocks"][2]["fields"]]
    assert fields[1:3] == ["*Metric*\nunknown", "*When*\nunknown"]


def test_alarm_time_without_a_zone_is_read_as_utc(aws, context, handler, slack_webhook):
    alarm = alarm_in("sns_alarm.json")
    alarm["StateChangeTime"] = "2026-11-25T10:06:00"

    handler(with_message("sns_alarm.json", json.dumps(alarm)), context)

    assert "*When*\n2026-11-25 10:06:00 UTC" in all_text(slack_webhook.last)


def test_notifier_escapes_alarm_text_for_mrkdwn(aws, context, handler, slack_webhook):
    alarm = alarm_in("sns_alarm.json")
    alarm.update(
        AlarmDescription="<!channel> look & see",
        NewStateReason="reason with `code` and <https://evil.example|a link>",
        AlarmArn="not an arn",
        Region="Somewhere <odd>",
        StateChangeTime="sometime",
    )

    handler(with_message("sns_alarm.json", json.dumps(alarm)), context)

    text = all_text(slack_webhook.last)
    assert "<!channel>" not in text
    assert "<https://evil" not in text
    assert "`code`" not in text
    assert "*&lt;!channel&gt; look &amp; see*" in text
    assert "*Region*\nSomewhere &lt;odd&gt;" in text
    assert "*When*\nsometime" in text
    assert "console.aws.amazon.com" not in text  # no console link without a real region


def test_non_json_sns_message_posted_as_text(aws, context, handler, slack_webhook):
    event = with_message("sns_test_message.json", "Hello <!here> & `friends`\nsecond line", subject="Test")

    result = handler(event, context)

    assert result == {"posted": 1}
    message = slack_webhook.last
    assert message["text"] == "Hello &lt;!here&gt; &amp; \u02cbfriends\u02cb\nsecond line"
    assert message["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "Test"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": message["text"]}},
    ]


@pytest.mark.parametrize("message", [json.dumps({"not": "an alarm"}), "[1, 2]", "x" * 10_000])
def test_other_sns_messages_posted_as_truncated_text(aws, context, handler, slack_webhook, message):
    event = with_message("sns_test_message.json", message)
    event["Records"][0]["Sns"]["Subject"] = None

    handler(event, context)

    posted = slack_webhook.last
    assert posted["blocks"][0]["text"]["text"] == "Notification from the alarm topic"
    assert posted["text"] == (message if len(message) < 2500 else "x" * 2499 + "\u2026")


def test_webhook_failure_raises_from_notifier(aws, context, handler, slack_webhook, capsys, monkeypatch):
    from notifier.app import logger
    from shared.slack import SlackDeliveryError

    capture_logs(monkeypatch, logger)
    slack_webhook.status = 500

    with pytest.raises(SlackDeliveryError, match="500"):
        handler(load_event("sns_alarm.json"), context)

    assert slack_webhook.attempts == 1
    assert slack_webhook.messages == []
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"level"')]
    failure = next(log for log in logs if log["message"] == "Slack did not accept the notification")
    assert failure["level"] == "ERROR"
    assert "SlackDeliveryError" in failure["exception"]
    assert failure["snsMessageId"] == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"


def test_unreachable_webhook_raises_from_notifier(aws, context, handler, monkeypatch):
    from shared import slack
    from shared.slack import SlackDeliveryError

    def refuse(url, message, timeout=slack.TIMEOUT_SECONDS):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(slack, "send", refuse)

    with pytest.raises(SlackDeliveryError, match="unreachable"):
        handler(load_event("sns_alarm.json"), context)
