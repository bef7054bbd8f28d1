"""Posting to Slack through the incoming webhook, with failures raised, never swallowed.

The request is what slack_sdk's ``WebhookClient.send(text=..., blocks=...)`` sends (a JSON POST,
https://docs.slack.dev/tools/java-slack-sdk/guides/incoming-webhooks), made with urllib as
slack_sdk makes it, without importing slack_sdk: its package ``__init__`` loads the whole Web
API client (and asyncio), about a third of a bare ``import boto3`` at each cold start of the
functions that alert. ``tests/functions/test_slack_webhook.py`` sends the same messages through
both to a local server and compares the requests and the answers.

Environment:
- SLACK_WEBHOOK_PARAMETER: name of the SecureString SSM parameter holding the webhook URL.
"""

from __future__ import annotations

import json
import os
from typing import Any

from shared import parameters

WEBHOOK_MAX_AGE_SECONDS = 300
TIMEOUT_SECONDS = 5


Message = tuple[str, list[dict[str, Any]]]
"""What ``post`` sends: the fallback text (notifications, old clients) and the Block Kit blocks."""


class SlackDeliveryError(RuntimeError):
    """Slack did not accept a message."""


def webhook_url() -> str:
    name = os.environ["SLACK_WEBHOOK_PARAMETER"]
    return parameters.get(name, decrypt=True, max_age=WEBHOOK_MAX_AGE_SECONDS)


def post(text: str, blocks: list[dict[str, Any]]) -> None:
    """Send one message; raise SlackDeliveryError unless Slack answers 200."""
    try:
        status, body = send(webhook_url(), {"text": text, "blocks": blocks})
    except OSError as error:
        raise SlackDeliveryError(f"Slack webhook unreachable: {error}") from error
    if status != 200:
        raise SlackDeliveryError(f"Slack webhook answered {status}: {body}")


def send(url: str, message: dict[str, Any], timeout: float = TIMEOUT_SECONDS) -> tuple[int, str]:
    """POST ``message`` to the webhook as JSON: Slack's status and body (an error status too, as
    slack_sdk returns it); OSError when Slack cannot be reached."""
    import urllib.error
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise SlackDeliveryError("the Slack webhook URL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url,
        data=json.dumps(message).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json;charset=utf-8"},
    )
    try:
        with _opener(https=url.startswith("https://")).open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")


def _opener(*, https: bool) -> Any:
    """``urlopen``'s handlers for a POST: proxies from the environment, redirects, HTTP errors, and
    the one transport the URL's scheme needs. ``urlopen``'s own opener builds its HTTPS handler,
    which on Python 3.13 loads the system's CA certificates, even for an http URL: 5% of the
    security responder's cold start against the local cloud's http webhook. The https transport is
    urlopen's, certificates verified."""
    import urllib.request

    transport = urllib.request.HTTPSHandler() if https else urllib.request.HTTPHandler()
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        transport,
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener
