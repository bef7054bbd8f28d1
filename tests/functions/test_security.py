"""The security responder: failed-login alarm to a Slack report of the window's offenders."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import PRIMARY, SECONDARY, TABLE, WEBHOOK_URL, load_event
from webhook_helpers import all_text, emitted_metrics

ALARM_AT = datetime(2026, 11, 25, 10, 5, 30, tzinfo=UTC)  # the event's state timestamp
WINDOW_START = ALARM_AT - timedelta(minutes=5)  # the alarmed metric's period is 300 s
_ids = itertools.count()


@pytest.fixture
def handler():
    from security.app import handler

    return handler


def alarm_event(state: str = "ALARM", **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("cloudwatch_alarm_failed_logins.json"))
    event["alarmData"]["state"]["value"] = state
    event["alarmData"]["state"].update(changes)
    return event


def login(
    username: str, source_ip: str, at: datetime, *, success: bool = False, region: str = PRIMARY
) -> None:
    """One login attempt, as the login function records it."""
    from shared import model

    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE,
        Item={
            model.PARTITION_KEY: {"S": model.login_bucket(at)},
            model.SORT_KEY: {"S": f"{stamp}#{region}#{next(_ids)}"},
            "username": {"S": username},
            "success": {"BOOL": success},
            "region": {"S": region},
            "sourceIp": {"S": source_ip},
            "at": {"S": stamp},
        },
    )


def failures(
    username: str, source_ip: str, count: int, *, start: datetime = WINDOW_START, **kwargs: Any
) -> None:
    """``count`` failed attempts spread over the window."""
    for n in range(count):
        login(username, source_ip, start + timedelta(seconds=15 + 47 * n), **kwargs)


def fields_of(message: dict[str, Any]) -> list[str]:
    return [field["text"] for block in message["blocks"] for field in block.get("fields", [])]


def test_security_responder_lists_top_usernames_and_ips_from_the_window_only(
    aws, context, handler, slack_webhook, capsys
):
    failures("alice", "203.0.113.7", 5)
    failures("alice", "192.0.2.99", 1)
    failures("bob", "203.0.113.7", 3)
    failures("bob", "198.51.100.2", 2, region=SECONDARY)  # replicated from the other region
    failures("carol", "198.51.100.2", 4)
    failures("dave", "192.0.2.10", 3)
    failures("erin", "192.0.2.11", 2)
    failures("frank", "192.0.2.10", 1)
    # Outside the window: in the first minute's partition just before the start, in the last
    # minute's partition at and after the end, and in earlier minutes.
    outside = (
        WINDOW_START - timedelta(milliseconds=1),
        WINDOW_START - timedelta(seconds=20),
        ALARM_AT,
        ALARM_AT + timedelta(seconds=10),
        WINDOW_START - timedelta(minutes=3),
    )
    for at in outside:
        for _ in range(3):
            login("mallory", "233.252.0.1", at)
    # Successful logins are not offences.
    failures("zed", "203.0.113.200", 20, success=True)

    result = handler(alarm_event(), context)

    assert result == {"state": "ALARM", "posted": True, "failedLogins": 21}
    assert slack_webhook.urls == [WEBHOOK_URL]
    message = slack_webhook.last
    assert message["text"] == "21 failed logins in us-east-1 in the last 5 minutes"
    assert message["blocks"][0]["text"]["text"] == ":lock: Failed logins over threshold in us-east-1"
    assert message["blocks"][1]["text"]["text"] == (
        "*21* failed login attempts in the 5 minutes from 2026-11-25 10:00:30 to 10:05:30 UTC."
    )
    assert fields_of(message) == [
        "*Top 5 usernames*\n1. `alice` (6)\n2. `bob` (5)\n3. `carol` (4)\n4. `dave` (3)\n5. `erin` (2)",
        "*Top 5 source IPs*\n1. `203.0.113.7` (8)\n2. `198.51.100.2` (6)\n3. `192.0.2.10` (4)"
        "\n4. `192.0.2.11` (2)\n5. `192.0.2.99` (1)",
    ]
    text = all_text(message)
    assert "mallory" not in text
    assert "zed" not in text
    assert "active-active-monitoring-failed-logins-5c6d7e8" in text
    assert emitted_metrics(capsys.readouterr().out) == {"SecurityReports": 1}


def test_one_failed_login_is_reported_in_the_singular(aws, context, handler, slack_webhook):
    failures("alice", "203.0.113.7", 1)

    handler(alarm_event(), context)

    message = slack_webhook.last
    assert message["text"] == "1 failed login in us-east-1 in the last 5 minutes"
    assert message["blocks"][1]["text"]["text"].startswith("*1* failed login attempt in the 5 minutes ")


def test_security_window_defaults_to_env_minutes_without_a_period(
    aws, context, handler, slack_webhook, monkeypatch
):
    monkeypatch.setenv("SECURITY_WINDOW_MINUTES", "2")
    event = alarm_event()
    del event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["period"]
    login("early", "192.0.2.1", ALARM_AT - timedelta(minutes=2, seconds=1))
    login("late", "192.0.2.2", ALARM_AT - timedelta(minutes=1, seconds=59))

    result = handler(event, context)

    assert result["failedLogins"] == 1
    assert "`late` (1)" in all_text(slack_webhook.last)
    assert "early" not in all_text(slack_webhook.last)


def test_security_reports_zero_when_the_window_has_no_failures(aws, context, handler, slack_webhook):
    result = handler(alarm_event(), context)

    assert result["failedLogins"] == 0
    assert fields_of(slack_webhook.last) == ["*Top 5 usernames*\nnone", "*Top 5 source IPs*\nnone"]


def test_security_escapes_and_truncates_user_controlled_text(aws, context, handler, slack_webhook):
    from security.logic import MAX_NAME_CHARS

    hostile = "<!channel> `x` & *bold*\n" + "a" * 300
    failures(hostile, "203.0.113.7", 2)

    handler(alarm_event(), context)

    usernames = fields_of(slack_webhook.last)[0]
    line = usernames.splitlines()[1]
    assert line.startswith("1. `&lt;!channel&gt; \u02cbx\u02cb &amp; *bold*\ufffd")
    assert line.endswith("\u2026` (2)")
    assert "<!channel>" not in usernames
    shown = line[len("1. `") : -len("` (2)")]
    assert len(shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) == MAX_NAME_CHARS


def test_security_posts_back_to_normal_on_ok(aws, context, handler, slack_webhook):
    failures("alice", "203.0.113.7", 5)

    result = handler(
        alarm_event("OK", reason="Threshold Crossed: 1 datapoint [1.0] was not >= 10.0"), context
    )

    assert result == {"state": "OK", "posted": True}
    message = slack_webhook.last
    assert message["text"] == "Failed logins back to normal in us-east-1"
    assert (
        message["blocks"][0]["text"]["text"] == ":white_check_mark: Failed logins back to normal in us-east-1"
    )
    assert "alice" not in all_text(message)


def test_security_ignores_insufficient_data(aws, context, handler, slack_webhook):
    failures("alice", "203.0.113.7", 5)

    result = handler(alarm_event("INSUFFICIENT_DATA"), context)

    assert result == {"state": "INSUFFICIENT_DATA", "posted": False}
    assert slack_webhook.attempts == 0


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    event = alarm_event()
    node = event
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return event


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({}, "missing 'alarmData'"),
        (_without(("alarmData", "state", "timestamp")), "missing 'timestamp'"),
        (_without(("region",)), "missing 'region'"),
        (alarm_event(timestamp="yesterday"), "wrong type or format"),
        (alarm_event(timestamp="2026-11-25T10:05:30"), "wrong type or format"),
        (alarm_event(timestamp=1795597530), "wrong type or format"),
        ({**alarm_event(), "alarmData": "nope"}, "wrong type or format"),
        (alarm_event(value=""), "non-empty strings"),
        ({**alarm_event(), "region": "<!channel>"}, "region must be an AWS region name"),
    ],
)
def test_malformed_alarm_event_raises_a_clear_error(aws, context, handler, slack_webhook, event, reason):
    from security.logic import MalformedAlarmEvent

    with pytest.raises(MalformedAlarmEvent, match=reason):
        handler(event, context)

    assert slack_webhook.attempts == 0


def test_security_webhook_failure_raises(aws, context, handler, slack_webhook):
    from shared.slack import SlackDeliveryError

    slack_webhook.status = 500

    with pytest.raises(SlackDeliveryError):
        handler(alarm_event(), context)


def test_long_period_is_capped_to_an_hour_of_queries(aws):
    from security.logic import AlarmChange, minutes_of, window

    change = AlarmChange("a", "ALARM", "", ALARM_AT, PRIMARY, period_seconds=86_400)

    start, end = window(change, 5)

    assert end - start == timedelta(hours=1)
    assert len(list(minutes_of(start, end))) == 61  # the window is not minute-aligned


def test_items_without_a_time_are_left_out(aws):
    from security.logic import read_attempts
    from shared import model

    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE,
        Item={
            model.PARTITION_KEY: {"S": model.login_bucket(ALARM_AT - timedelta(minutes=1))},
            model.SORT_KEY: {"S": "odd"},
            "username": {"S": "ghost"},
            "success": {"BOOL": False},
        },
    )
    login("alice", "203.0.113.7", ALARM_AT - timedelta(minutes=1))

    attempts = list(
        read_attempts(boto3.client("dynamodb", region_name=PRIMARY), TABLE, WINDOW_START, ALARM_AT)
    )

    assert [attempt.username for attempt in attempts] == ["alice"]


def test_the_window_is_read_without_its_successful_logins(aws):
    from security.logic import read_attempts
    from shared import model

    minute = ALARM_AT - timedelta(minutes=1)
    login("alice", "203.0.113.7", minute, success=True)
    login("mallory", "233.252.0.1", minute)
    stamp = minute.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE,
        Item={  # an attempt with no success attribute reads as a failure, as before
            model.PARTITION_KEY: {"S": model.login_bucket(minute)},
            model.SORT_KEY: {"S": f"{stamp}#{PRIMARY}#no-success"},
            "username": {"S": "trudy"},
            "sourceIp": {"S": "233.252.0.2"},
            "at": {"S": stamp},
        },
    )

    attempts = list(
        read_attempts(boto3.client("dynamodb", region_name=PRIMARY), TABLE, WINDOW_START, ALARM_AT)
    )

    assert sorted(attempt.username for attempt in attempts) == ["mallory", "trudy"]
    assert not any(attempt.success for attempt in attempts)
