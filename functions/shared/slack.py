"""Posting to Slack through the incoming webhook, with failures raised, never swallowed.

Environment:
- SLACK_WEBHOOK_PARAMETER: name of the SecureString SSM parameter holding the webhook URL.
"""

from __future__ import annotations

import os
from typing import Any

from shared import parameters

WEBHOOK_MAX_AGE_SECONDS = 300


Message = tuple[str, list[dict[str, Any]]]
"""What ``post`` sends: the fallback text (notifications, old clients) and the Block Kit blocks."""


class SlackDeliveryError(RuntimeError):
    """Slack did not accept a message."""


def webhook_url() -> str:
    name = os.environ["SLACK_WEBHOOK_PARAMETER"]
    return parameters.get(name, decrypt=True, max_age=WEBHOOK_MAX_AGE_SECONDS)


def post(text: str, blocks: list[dict[str, Any]]) -> None:
    """Send one message; raise SlackDeliveryError unless Slack answers 200."""
    from slack_sdk.webhook import WebhookClient

    try:
        response = WebhookClient(webhook_url(), timeout=5).send(text=text, blocks=blocks)
    except OSError as error:
        raise SlackDeliveryError(f"Slack webhook unreachable: {error}") from error
    if response.status_code != 200:
        raise SlackDeliveryError(f"Slack webhook answered {response.status_code}: {response.body}")
