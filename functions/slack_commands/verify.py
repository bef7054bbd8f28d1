"""Is this request from Slack, from an allowed team? And its verified body, decoded.

Slack's certificate check (a form body with ``ssl_check=1`` and a token, no command) is answered
first, with an empty 200 and nothing else: before the signature and team checks, as Slack's
Bolt frameworks do (``answer_ssl_check``). Every other request must be signed.

Slack signs each request: ``x-slack-signature`` = ``v0=`` + HMAC-SHA256 of
``v0:<x-slack-request-timestamp>:<raw body>`` with the app's signing secret. The raw body is
the bytes exactly as Slack sent them, so a base64 body from API Gateway is decoded first and
never re-encoded. The HMAC is compared in constant time and timestamps more than 5 minutes
from now are rejected (either way: replays and forged future timestamps).

This is slack_sdk's ``SignatureVerifier`` check, written with the standard library: importing
``slack_sdk.signature`` loads the whole package (its ``__init__`` imports the WebClient), which
cost 110-155 ms of every cold start from a layer without bytecode, inside Slack's 3 s budget.
The tests hold this function to slack_sdk's verifier on arbitrary input.

Environment:
- SLACK_SIGNING_SECRET_PARAMETER: name of the SecureString SSM parameter holding the signing
  secret (read with decryption, cached for SECRET_MAX_AGE_SECONDS; never logged).
- ALLOWED_TEAM_IDS: comma-separated Slack team (workspace) ids allowed to send requests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from shared import jsonparse, parameters
from shared.http import ApiError
from shared.router import NextMiddleware, Request, Response, Router

logger = Logger(child=True)

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
INVALID_SIGNATURE = "invalid Slack signature"
MISSING_HEADERS = f"missing Slack signature headers ({SIGNATURE_HEADER}, {TIMESTAMP_HEADER})"
REPLAY_WINDOW_SECONDS = 5 * 60
# Rotating the secret in SSM takes effect within this time, without a deploy.
SECRET_MAX_AGE_SECONDS = 300
# Slack's commands and events are a few KB; a verified body this big is refused, not parsed.
MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64
BODY_CONTEXT_KEY = "slack_body"
SSL_CHECK_FIELD = "ssl_check"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class SystemClock:
    """The time request timestamps are compared with; tests replace ``clock``."""

    def now(self) -> float:
        return time.time()


clock: Any = SystemClock()


def signing_secret() -> str:
    name = os.environ["SLACK_SIGNING_SECRET_PARAMETER"]
    return parameters.get(name, decrypt=True, max_age=SECRET_MAX_AGE_SECONDS)


def raw_body(event: Request) -> bytes:
    """The body bytes as Slack sent them (API Gateway base64-encodes form bodies)."""
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        # The signature covers bytes we cannot recover, so it cannot be checked.
        raise ApiError(401, INVALID_SIGNATURE) from error


def verify_signature(body: bytes, timestamp: str, signature: str, secret: str) -> None:
    """Return only if Slack signed ``body`` at ``timestamp`` within 5 minutes of now; else ApiError 401."""
    # A non-numeric timestamp, a non-UTF-8 body or a malformed signature can't be Slack's.
    if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature) and _is_utf8(body)):
        raise ApiError(401, INVALID_SIGNATURE)
    if abs(clock.now() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise ApiError(401, INVALID_SIGNATURE)
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    if not hmac.compare_digest(f"v0={digest.hexdigest()}", signature):
        raise ApiError(401, INVALID_SIGNATURE)


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_ssl_check(event: Request) -> bool:
    """Is this Slack's certificate check: a form body whose ``ssl_check`` field is ``1``?"""
    # Slack: these requests "include a parameter ssl_check set to 1 ... respond with a HTTP 200 OK":
    # https://github.com/slackhq/slack-api-docs/blob/master/index_slash_commands.md#ssl
    content_type = (event.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        return False
    try:
        body = raw_body(event)
    except ApiError:
        return False
    # Bolt for Python reads a body that starts with "{" as JSON, every other one as a form.
    if len(body) > MAX_BODY_BYTES or body.lstrip().startswith(b"{"):
        return False
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # also UnicodeDecodeError and too many fields
        return False
    return fields.get(SSL_CHECK_FIELD) == ["1"]


def answer_ssl_check(app: Router, next_middleware: NextMiddleware) -> Response:
    """Middleware, before ``require_slack_signature``: Slack's ssl_check gets an empty 200.

    Before the signature, as Bolt does: Bolt for Python's SslCheck middleware runs ahead of its
    RequestVerification, and Bolt for JavaScript's AwsLambdaReceiver answers ssl_check before it
    verifies the signature. Nothing else runs for it (no route, no SSM read, no change), so an
    unsigned ssl_check learns nothing and cannot carry a command past the signature check.
    """
    # https://github.com/slackapi/bolt-python/blob/main/slack_bolt/app/app.py (_init_middleware_list)
    # https://github.com/slackapi/bolt-js/blob/main/src/receivers/AwsLambdaReceiver.ts (toHandler)
    if is_ssl_check(app.current_event):
        logger.info("answered Slack's ssl_check", extra={"path": app.current_event.path})
        return Response(200, "text/plain; charset=utf-8", "")
    return next_middleware(app)


def require_slack_signature(app: Router, next_middleware: NextMiddleware) -> Response:
    """Middleware: verify before any route runs; routes read the body with ``verified_body``."""
    event = app.current_event
    timestamp = event.header(TIMESTAMP_HEADER)
    signature = event.header(SIGNATURE_HEADER)
    try:
        # Headers first: a request without them never costs an SSM call.
        if not timestamp or not signature:
            raise ApiError(401, MISSING_HEADERS)
        body = raw_body(event)
        # Then what needs no secret: a replayed or malformed request never costs one either.
        if not may_be_signed(event):
            raise ApiError(401, INVALID_SIGNATURE)
        verify_signature(body, timestamp, signature, signing_secret())
    except ApiError:
        logger.warning("rejected a request without a valid Slack signature", extra={"path": event.path})
        raise
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    app.append_context(**{BODY_CONTEXT_KEY: body})
    return next_middleware(app)


def may_be_signed(event: Request) -> bool:
    """Could this request pass the signature check: both headers well formed, the timestamp
    within the replay window? Checked without the secret; only the check itself says it is."""
    timestamp = event.header(TIMESTAMP_HEADER) or ""
    signature = event.header(SIGNATURE_HEADER) or ""
    return bool(
        _TIMESTAMP.fullmatch(timestamp)
        and _SIGNATURE.fullmatch(signature)
        and abs(clock.now() - int(timestamp)) <= REPLAY_WINDOW_SECONDS
    )


def verified_body(app: Router) -> bytes:
    return app.context[BODY_CONTEXT_KEY]


def allowed_team_ids() -> frozenset[str]:
    teams = os.environ.get("ALLOWED_TEAM_IDS", "").split(",")
    return frozenset(team.strip() for team in teams if team.strip())


def require_allowed_team(team_id: object) -> str:
    """The team id if it is allowed; else ApiError 403."""
    if not isinstance(team_id, str) or team_id not in allowed_team_ids():
        raise ApiError(403, "this Slack team is not allowed to use this app")
    return team_id


def form_fields(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as single-valued fields; else ApiError 400."""
    try:
        text = body.decode("utf-8")
        parsed = parse_qs(text, keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as error:  # also UnicodeDecodeError and too many fields
        raise ApiError(400, "request body is not a valid form") from error
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        # repr: a name with control characters is shown escaped, never raw.
        raise ApiError(400, f"form field {repeated[0][:40]!r} is repeated")
    return {name: values[0] for name, values in parsed.items()}


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = jsonparse.loads(body)
    except jsonparse.NestedTooDeeply as error:
        raise ApiError(400, "request body is nested too deeply") from error
    except ValueError as error:  # also not UTF-8, and integers over Python's 4300-digit limit
        raise ApiError(400, "request body is not valid JSON") from error
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    return payload
