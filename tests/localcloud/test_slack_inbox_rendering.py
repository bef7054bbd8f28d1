"""The Slack stand-in's inbox page draws Block Kit and mrkdwn as Slack does, and nothing in a
message can add markup of its own."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.test import Client

from localcloud.slack import SlackStandIn, mrkdwn, render_message


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def message(*blocks: dict[str, Any], text: str = "fallback") -> dict[str, Any]:
    return {"received": "2026-12-01T10:00:00+00:00", "text": text, "blocks": list(blocks)}


# mrkdwn


def test_bold_italic_and_strike_become_html_emphasis_without_their_markers():
    assert mrkdwn("*bold* _italic_ ~gone~") == "<strong>bold</strong> <em>italic</em> <del>gone</del>"


def test_markers_inside_words_stay_as_text():
    assert mrkdwn("a*b*c snake_case_name") == "a*b*c snake_case_name"


def test_inline_code_is_code_and_its_markers_are_not_formatting():
    assert mrkdwn("`AWS/SQS *depth*`") == "<code>AWS/SQS *depth*</code>"


def test_code_block_is_preformatted_and_escaped():
    assert mrkdwn("```\nline 1\n<b>two</b>\n```") == "<pre><code>line 1\n&lt;b&gt;two&lt;/b&gt;</code></pre>"


def test_link_with_text_is_an_anchor_showing_the_text():
    html = mrkdwn("<https://example.com/a?b=1&amp;c=2|Open *it*>")
    assert html == (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">Open <strong>it</strong></a>'
    )


def test_bare_link_shows_its_url():
    assert mrkdwn("<https://example.com>") == (
        '<a href="https://example.com" rel="noopener noreferrer">https://example.com</a>'
    )


def test_slack_entities_show_as_the_characters_they_stand_for():
    assert mrkdwn("OK -&gt; ALARM &amp; back") == "OK -&gt; ALARM &amp; back"
    assert mrkdwn("&amp;lt;") == "&amp;lt;"  # a literal "&lt;" in Slack, shown as such


def test_emoji_codes_show_as_badges_and_newlines_as_breaks():
    assert mrkdwn(":white_check_mark: done\nnext") == (
        '<span class="emoji emoji-ok" role="img" aria-label="white check mark">\u2714</span> done<br>next'
    )


def test_unknown_emoji_codes_stay_as_text():
    assert mrkdwn(":tada: :white_check_mark_x:") == ":tada: :white_check_mark_x:"


# Block Kit


def test_header_section_fields_context_and_divider_render_as_slack_lays_them_out():
    html = render_message(
        message(
            {"type": "header", "text": {"type": "plain_text", "text": ":rotating_light: ALARM: errors"}},
            section("*Error rate over threshold*\n3 of 10 requests failed"),
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Region*\nus-east-1"},
                    {"type": "mrkdwn", "text": "*Metric*\n`AWS/ApiGateway 5xx`"},
                ],
            },
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://x.example|Open>"}]},
        )
    )
    assert '<h2 class="block-header"><span class="emoji emoji-alarm"' in html
    assert "</span> ALARM: errors</h2>" in html
    assert "<strong>Error rate over threshold</strong><br>3 of 10 requests failed" in html
    assert '<div class="fields"><div><strong>Region</strong><br>us-east-1</div>' in html
    assert "<code>AWS/ApiGateway 5xx</code>" in html
    assert "<hr>" in html
    assert '<div class="context"><a href="https://x.example"' in html
    assert "*" not in html


def test_header_is_plain_text_so_its_asterisks_stay():
    html = render_message(message({"type": "header", "text": {"type": "plain_text", "text": "*not bold*"}}))
    assert "<strong>" not in html
    assert "*not bold*" in html


def test_message_without_blocks_renders_its_text_as_mrkdwn():
    assert "<strong>hi</strong>" in render_message(message(text="*hi*"))


# XSS


def test_a_username_with_html_is_shown_as_text_not_markup():
    # What the security responder posts for a failed login by this user name (blockkit.escape'd).
    name = "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    html = render_message(
        message(
            {"type": "header", "text": {"type": "plain_text", "text": "<script>alert(3)</script>"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*Top usernames*\n1. `{name}` (5)"}]},
            section(f"_{name}_ *{name}*"),
        )
    )
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html


def test_a_link_cannot_run_script_or_break_out_of_its_attribute():
    html = mrkdwn('<javascript:alert(1)|click> <https://x.example/" onmouseover="alert(1)|hover>')
    assert "javascript:" not in html
    assert 'href="https://x.example/&quot; onmouseover=&quot;alert(1)"' in html
    # One anchor with only the attributes the renderer writes: the quote did not end the href.
    [anchor] = re.findall(r"<a [^>]*>", html)
    assert re.fullmatch(r'<a href="[^"]*" rel="noopener noreferrer">', anchor)


def test_raw_html_in_mrkdwn_that_slack_did_not_escape_adds_no_markup():
    # Unescaped < and > are Slack's control characters: read as (unsafe) links, shown as text.
    assert mrkdwn('<b onclick="x">hi</b>') == "b onclick=&quot;x&quot;hi/b"
    assert mrkdwn("<<>>") == "&lt;&lt;&gt;&gt;"


# The inbox, end to end through the WSGI app


def stand_in_with(*messages: dict[str, Any]) -> Client:
    slack = SlackStandIn(signing_secret="s", team_id="T0001", slack_apis={"us-east-1": "http://127.0.0.1:1"})
    client = Client(slack)
    for item in messages:
        client.post("/services/T/B/X", data=json.dumps(item), content_type="application/json")
    return client


def test_inbox_page_shows_blocks_rendered_and_no_raw_asterisks():
    client = stand_in_with({"text": "x", "blocks": [section("*Messages are waiting*")]})
    page = client.get("/inbox", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<strong>Messages are waiting</strong>" in page
    assert "*Messages are waiting*" not in page


def test_inbox_json_keeps_each_message_exactly_as_posted():
    blocks = [section("*bold* <https://x.example|x>")]
    client = stand_in_with({"text": "*t*", "blocks": blocks}, {"text": "plain"})
    reply = client.get("/inbox", headers={"Accept": "application/json"})
    assert reply.content_type == "application/json"
    messages = reply.get_json()
    assert [(m["text"], m["blocks"]) for m in messages] == [("*t*", blocks), ("plain", [])]
    assert all(set(m) == {"received", "text", "blocks"} for m in messages)
