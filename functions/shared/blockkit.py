"""Block Kit building blocks, and making untrusted text safe in Slack's mrkdwn."""

from __future__ import annotations

from typing import Any


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
