"""A Slack stand-in: an incoming-webhook inbox, and a console that sends signed `/chaos` commands.

- ``POST /services/...``: the incoming webhook the app posts alerts to.
- ``GET /inbox``: the messages, oldest first, as JSON (``Accept: application/json``:
  ``[{"received", "text", "blocks"}]``) or as a page.
- ``GET /console``: a page to send `/chaos ...` to a region's Slack API, signed exactly as Slack
  signs (v0 HMAC-SHA256 over ``v0:<timestamp>:<body>``); ``POST /console/send`` does the same
  for scripts and tests: ``{"region", "text"}`` → the Slack API's status and body.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

PAGE_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f6fa;color:#1b2430}
header{background:#3f0e40;color:#fff;padding:1rem 1.5rem}header h1{margin:0;font-size:1.25rem}
main{max-width:60rem;margin:1.5rem auto;padding:0 1rem}
.message{background:#fff;border-radius:8px;padding:1rem;margin:0 0 1rem;box-shadow:0 1px 3px #0002}
.when{color:#5b6573;font-size:.85rem}.block-header{font-weight:700;font-size:1.1rem}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:.25rem 1rem}
form{background:#fff;border-radius:8px;padding:1rem;display:flex;gap:.5rem;flex-wrap:wrap;align-items:end}
label{display:flex;flex-direction:column;font-weight:600;font-size:.9rem}
input,select,button{font:inherit;padding:.5rem;border-radius:6px;border:1px solid #8a94a6}
button{background:#007a5a;color:#fff;border:0;font-weight:700;cursor:pointer}
pre{white-space:pre-wrap;background:#1b2430;color:#e8ecf2;padding:1rem;border-radius:8px}
a{color:#1264a3}
"""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def command_body(team_id: str, text: str, *, user: str = "demo-operator") -> bytes:
    """The form Slack posts for `/chaos <text>` typed by ``user`` in team ``team_id``."""
    form = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": "localcloud",
        "channel_id": "C0LOCAL01",
        "channel_name": "alerts",
        "user_id": "U0LOCAL01",
        "user_name": user,
        "command": "/chaos",
        "text": text,
        "response_url": "http://127.0.0.1/unused",
        "trigger_id": f"{time.time_ns()}",
    }
    return urllib.parse.urlencode(form).encode()


@dataclass
class SlackStandIn:
    signing_secret: str
    team_id: str
    slack_apis: dict[str, str]  # region -> Slack API base URL
    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.urls = Map(
            [
                Rule("/services/<path:hook>", endpoint="webhook", methods=["POST"]),
                Rule("/inbox", endpoint="inbox", methods=["GET"]),
                Rule("/console", endpoint="console", methods=["GET"]),
                Rule("/console/send", endpoint="send", methods=["POST"]),
                Rule("/", endpoint="console", methods=["GET"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        adapter = self.urls.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
        except Exception as error:  # noqa: BLE001 - werkzeug's HTTPExceptions are WSGI apps
            return error(environ, start_response)  # type: ignore[operator]
        response = getattr(self, f"_{endpoint}")(request, **values)
        return response(environ, start_response)

    def _webhook(self, request: Request, hook: str) -> Response:
        try:
            payload = json.loads(request.get_data())
        except ValueError:
            return Response("invalid_payload", status=400)
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
            return Response("no_text", status=400)
        with self.lock:
            self.messages.append(
                {
                    "received": datetime.now(UTC).isoformat(),
                    "text": payload.get("text", ""),
                    "blocks": payload.get("blocks", []),
                }
            )
        return Response("ok", content_type="text/plain")

    def _inbox(self, request: Request) -> Response:
        with self.lock:
            messages = list(self.messages)
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json":
            return Response(json.dumps(messages), content_type="application/json")
        items = (
            "".join(_render_message(message) for message in reversed(messages)) or "<p>No messages yet.</p>"
        )
        body = (
            f"<header><h1>Slack stand-in: #alerts ({len(messages)} messages)</h1></header><main>"
            '<p><a href="/console">Send a /chaos command</a> · newest first · refreshes every 3 s</p>'
            f"{items}</main>"
        )
        return _page("Slack inbox", body, refresh=3)

    def _console(self, request: Request) -> Response:
        options = "".join(
            f'<option value="{html.escape(r)}">{html.escape(r)}</option>' for r in self.slack_apis
        )
        body = (
            "<header><h1>Slack stand-in: /chaos console</h1></header><main>"
            '<form method="post" action="/console/send">'
            "<label>Region's Slack API"
            f'<select name="region" data-testid="console-region">{options}</select></label>'
            '<label>Command<input name="text" value="status" size="32" data-testid="console-text" '
            'aria-describedby="usage"></label>'
            '<button type="submit" data-testid="console-send">Send /chaos</button></form>'
            '<p id="usage">status · fail &lt;region&gt; · recover &lt;region&gt; · '
            "errors &lt;0..1&gt; [region]</p>"
            '<p><a href="/inbox">Open the #alerts inbox</a></p></main>'
        )
        return _page("Slack console", body)

    def _send(self, request: Request) -> Response:
        if request.mimetype == "application/json":
            data = request.get_json(silent=True) or {}
        else:
            data = request.form.to_dict()
        region, text = str(data.get("region", "")), str(data.get("text", ""))
        if region not in self.slack_apis:
            return Response(
                json.dumps({"error": f"unknown region {region!r}"}),
                status=400,
                content_type="application/json",
            )
        status, answer = self.command(region, text)
        if request.mimetype == "application/json":
            return Response(json.dumps({"status": status, "body": answer}), content_type="application/json")
        shown = answer.get("text") if isinstance(answer, dict) else answer
        body = (
            "<header><h1>Slack stand-in: /chaos console</h1></header><main>"
            f"<p>/chaos {html.escape(text)} → {html.escape(region)} answered {status}</p>"
            f'<pre data-testid="console-answer">{html.escape(str(shown))}</pre>'
            '<p><a href="/console">Send another</a> · <a href="/inbox">Inbox</a></p></main>'
        )
        return _page("Slack console", body)

    def command(self, region: str, text: str, *, user: str = "demo-operator") -> tuple[int, Any]:
        """Send `/chaos <text>` to a region's Slack API, signed like Slack; return status and body."""
        body = command_body(self.team_id, text, user=user)
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - a loopback URL from the deployed graph
            f"{self.slack_apis[region]}/slack/commands",
            data=body,
            method="POST",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": str(timestamp),
                "x-slack-signature": sign(self.signing_secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")


def _render_message(message: dict[str, Any]) -> str:
    parts = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            parts.append(f'<div class="block-header">{html.escape(block["text"]["text"])}</div>')
        elif kind == "section" and block.get("fields"):
            cells = "".join(f"<div>{_mrkdwn(field['text'])}</div>" for field in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        elif kind == "section":
            parts.append(f"<p>{_mrkdwn(block['text']['text'])}</p>")
        elif kind == "context":
            parts.append(
                f'<p class="when">{" ".join(_mrkdwn(e.get("text", "")) for e in block["elements"])}</p>'
            )
    if not parts:
        parts.append(f"<p>{_mrkdwn(message.get('text', ''))}</p>")
    received = html.escape(message["received"])
    return f'<article class="message"><div class="when">{received}</div>{"".join(parts)}</article>'


def _mrkdwn(text: str) -> str:
    # Slack already escaped &, < and > in mrkdwn: unescape, then escape once for HTML.
    plain = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return html.escape(plain).replace("\n", "<br>")


def _page(title: str, body: str, refresh: int | None = None) -> Response:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>'
        f"<style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(document, content_type="text/html; charset=utf-8")
