"""Signed Slack requests for tests, built from the JSON events in events/ (tests only).

Slack's signature is computed here with hmac directly, not with slack_sdk, so the function's
verification is checked against an independent implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from conftest import APP, REGIONS, SIGNING_SECRET, load_event


def sign(body: bytes, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 signature of ``body`` sent at ``timestamp``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def body_bytes(event: dict[str, Any]) -> bytes:
    if event["isBase64Encoded"]:
        return base64.b64decode(event["body"])
    return event["body"].encode()


def with_body(event: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The event carrying ``body`` as API Gateway would (base64 or not, like the original)."""
    event = {**event, "headers": {**event["headers"], "content-length": str(len(body))}}
    event["body"] = base64.b64encode(body).decode() if event["isBase64Encoded"] else body.decode()
    return event


def signed(
    event: dict[str, Any], *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, Any]:
    """The event with the headers Slack would send for its body, at ``timestamp`` (default now)."""
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers = {
        **event["headers"],
        "x-slack-request-timestamp": str(sent_at),
        "x-slack-signature": sign(body_bytes(event), sent_at, secret),
    }
    return {**event, "headers": headers}


def command_event(text: str = "status", *, base64_body: bool = False, **fields: str) -> dict[str, Any]:
    """An unsigned `/chaos <text>` slash command event; ``fields`` override form fields."""
    event = load_event("slack_command_base64.json" if base64_body else "slack_command.json")
    form = dict(parse_qsl(body_bytes(event).decode(), keep_blank_values=True))
    form.update(text=text, **fields)
    return with_body(event, urlencode(form).encode())


def signed_command(text: str = "status", **kwargs: Any) -> dict[str, Any]:
    timestamp = kwargs.pop("timestamp", None)
    return signed(command_event(text, **kwargs), timestamp=timestamp)


def events_api_event(payload: Any) -> dict[str, Any]:
    """An unsigned Events API request carrying ``payload`` as JSON (or as-is when bytes)."""
    event = load_event("slack_url_verification.json")
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return with_body(event, body)


def chaos_values() -> dict[str, str | None]:
    """Every region's chaos SSM parameter value, exactly as stored (None when there is none)."""
    import boto3

    values = {}
    for region in REGIONS:
        found = boto3.client("ssm", region_name=region).get_parameters(Names=[f"/{APP}/chaos/{region}"])
        values[region] = found["Parameters"][0]["Value"] if found["Parameters"] else None
    return values


def chaos_state(region: str) -> dict[str, Any]:
    return json.loads(chaos_values()[region] or "null")


class FrozenClock:
    """What ``slack_commands.verify.clock`` is replaced with to test the replay window exactly."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at
