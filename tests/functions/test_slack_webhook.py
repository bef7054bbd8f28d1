"""shared.slack.send held to slack_sdk's WebhookClient.send: the same message through both to a
webhook stand-in on 127.0.0.1 gives the same request (method, path, content type, JSON body) and
the same answer (status and body), for Slack's 200 and for its errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from shared import slack
from slack_sdk.webhook import WebhookClient

MESSAGE = {
    "text": "Alarm *errors* in us-east-1 \u2014 <b>",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "ALARM: error rate"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Region*\nus-east-1"}]},
    ],
}


class Webhook(ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    answer: tuple[int, str] = (200, "ok")


class Handler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(
            {
                "method": self.command,
                "path": self.path,
                "contentType": self.headers["Content-Type"],
                "body": json.loads(body.decode("utf-8")),
            }
        )
        status, text = self.server.answer
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def url_of(server: Webhook) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/services/T0LOCAL/B0LOCAL/secret"


@pytest.mark.parametrize("answer", [(200, "ok"), (400, "invalid_blocks"), (404, "no_service"), (500, "oops")])
def test_the_webhook_request_and_answer_are_slack_sdks(webhook, answer):
    webhook.answer = answer
    theirs = WebhookClient(url_of(webhook), timeout=5).send(text=MESSAGE["text"], blocks=MESSAGE["blocks"])
    ours = slack.send(url_of(webhook), MESSAGE)
    sdk_request, our_request = webhook.requests
    assert our_request == sdk_request
    assert our_request["body"] == MESSAGE
    assert ours == (theirs.status_code, theirs.body) == answer


def test_a_webhook_that_does_not_answer_200_raises_with_its_status(webhook, monkeypatch):
    webhook.answer = (403, "invalid_token")
    monkeypatch.setattr(slack, "webhook_url", lambda: url_of(webhook))
    with pytest.raises(slack.SlackDeliveryError, match="403: invalid_token"):
        slack.post(MESSAGE["text"], MESSAGE["blocks"])


def test_an_unreachable_webhook_raises_as_unreachable(webhook, monkeypatch):
    url = url_of(webhook)
    webhook.shutdown()
    webhook.server_close()
    monkeypatch.setattr(slack, "webhook_url", lambda: url)
    with pytest.raises(slack.SlackDeliveryError, match="unreachable"):
        slack.post(MESSAGE["text"], MESSAGE["blocks"])


def test_a_webhook_url_that_is_not_http_is_refused():
    with pytest.raises(slack.SlackDeliveryError, match="http"):
        slack.send("file:///etc/passwd", MESSAGE)
