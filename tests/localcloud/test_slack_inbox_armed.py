"""Every alarm's first OK (INSUFFICIENT_DATA -> OK on start runs its OK actions, as in AWS) is
kept in the JSON list, and the inbox page folds them into one "monitoring armed" line per region."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client

from localcloud.slack import SlackStandIn, armed, render_inbox

EAST, WEST = "us-east-1", "us-west-2"


def notifier(state: str, name: str, region: str, previous: str = "INSUFFICIENT_DATA") -> dict[str, Any]:
    """A message as the notifier posts it (functions/notifier/logic.py)."""
    emoji = {"OK": ":white_check_mark:", "ALARM": ":rotating_light:"}[state]
    return {
        "received": "2026-12-01T16:59:08+00:00",
        "text": f"{emoji} {state}: {name} in {region}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} {state}: {name}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Why*\nThreshold Crossed"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Region*\n{region}"},
                    {"type": "mrkdwn", "text": f"*Previous state*\n{previous}"},
                ],
            },
        ],
    }


def security_ok(name: str, region: str) -> dict[str, Any]:
    """The security responder's recovery report (functions/security/logic.py)."""
    text = f"Failed logins back to normal in {region}"
    return {
        "received": "2026-12-01T16:59:08+00:00",
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f":white_check_mark: {text}"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Alarm `{name}` is OK since 16:59:03 UTC: fine"}],
            },
        ],
    }


def security_alarm(name: str, region: str) -> dict[str, Any]:
    return {
        "received": "2026-12-01T17:01:00+00:00",
        "text": f"12 failed logins in {region} in the last 5 minutes",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f":lock: Failed logins in {region}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Alarm `{name}`: over 10"}]},
        ],
    }


START = [
    notifier("OK", "errors-east", EAST),
    security_ok("logins-east", EAST),
    notifier("OK", "errors-west", WEST),
    notifier("OK", "dlq-east", EAST),
    security_ok("logins-west", WEST),
]


def test_each_alarms_first_ok_is_found_with_its_region():
    assert armed(START) == {0: EAST, 1: EAST, 2: WEST, 3: EAST, 4: WEST}


def test_an_ok_after_the_alarm_fired_is_not_a_first_ok():
    messages = [*START, security_alarm("logins-east", EAST), security_ok("logins-east", EAST)]
    assert 5 not in armed(messages)
    assert 6 not in armed(messages)


def test_a_first_message_that_is_an_alarm_is_not_folded():
    assert armed([notifier("ALARM", "errors-east", EAST), notifier("OK", "errors-east", EAST)]) == {}


def test_page_shows_one_armed_line_per_region_counting_its_alarms():
    page = render_inbox(START)
    assert page.count('<details class="armed"') == 2
    assert "Monitoring armed in us-east-1: 3 alarms OK" in page
    assert "Monitoring armed in us-west-2: 2 alarms OK" in page


def test_armed_line_holds_every_first_ok_message_when_expanded():
    page = render_inbox(START)
    east = page[page.index('id="armed-us-east-1"') :]
    east = east[: east.index("</details>")]
    assert east.count('<article class="message">') == 3
    assert "errors-east" in east
    assert "dlq-east" in east
    assert "Failed logins back to normal in us-east-1" in east


def test_later_messages_are_shown_on_their_own_above_the_armed_lines():
    later = [security_alarm("logins-east", EAST), security_ok("logins-east", EAST)]
    page = render_inbox([*START, *later])
    outside = page[: page.index("<details")]
    assert outside.count('<article class="message">') == 2
    assert "Failed logins in us-east-1" in outside


def test_json_inbox_keeps_every_first_ok_message():
    slack = SlackStandIn(signing_secret="s", team_id="T0001", slack_apis={EAST: "http://127.0.0.1:1"})
    client = Client(slack)
    for item in START:
        body = {"text": item["text"], "blocks": item["blocks"]}
        client.post("/services/T/B/X", data=json.dumps(body), content_type="application/json")
    messages = client.get("/inbox", headers={"Accept": "application/json"}).get_json()
    assert [m["text"] for m in messages] == [m["text"] for m in START]
    page = client.get("/inbox", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Monitoring armed in us-east-1: 3 alarms OK" in page
