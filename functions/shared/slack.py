"""Posting to Slack through the incoming webhook, with failures raised, never swallowed.

Environment:
- SLACK_WEBHOOK_PARAMETER: name of the SecureString SSM parameter holding the webhook URL.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities import parameters

WEBHOOK_MAX_AGE_SECONDS = 300


class SlackDeliveryError(RuntimeError):
    """Slack did not accept a message."""


def webhook_url() -> str:
    name = os.environ["SLACK_WEBHOOK_PARAMETER"]
    return str(parameters.get_parameter(name, decrypt=True, max_age=WEBHOOK_MAX_AGE_SECONDS))


def post(text: str, blocks: list[dict[str, Any]]) -> None:
    """Send one message; raise SlackDeliveryError unless Slack answers 200."""
    from slack_sdk.webhook import WebhookClient

    try:
        response = WebhookClient(webhook_url(), timeout=5).send(text=text, blocks=blocks)
    except OSError as error:
        raise SlackDeliveryError(f"Slack webhook unreachable: {error}") from error
    if response.status_code != 200:
        raise SlackDeliveryError(f"Slack webhook answered {response.status_code}: {response.body}")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


# Slack's mrkdwn has no escape for backticks: a look-alike keeps untrusted text out of code spans.
_MRKDWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "\u02cb"})


def escape(text: str) -> str:
    """Untrusted text made inert in mrkdwn: no links, mentions (``<!channel>``) or code spans."""
    return text.translate(_MRKDWN_ESCAPES)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters; an ellipsis marks a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def fields(pairs: dict[str, str]) -> dict[str, Any]:
    """A section of labelled mrkdwn fields (Slack shows at most 10); values must be escaped."""
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in pairs.items()][:10],
    }
