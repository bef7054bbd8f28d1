"""A Slack stand-in: an incoming-webhook inbox, and a console that sends signed `/chaos` commands.

- ``POST /services/...``: the incoming webhook the app posts alerts to.
- ``GET /inbox``: the messages, oldest first, as JSON (``Accept: application/json``:
  ``[{"received", "text", "blocks"}]``) or as a page.
- ``GET /console``: a page to send `/chaos ...` to a region's Slack API, signed exactly as Slack
  signs (v0 HMAC-SHA256 over ``v0:<timestamp>:<body>``); ``POST /console/send`` does the same
  for scripts and tests: ``{"region", "text"}`` → the Slack API's status and body.
- The console also blacks each region out and restores it, through the local control API
  (``localcloud.control``; ``POST /console/regions/<region>/blackout`` or ``.../restore`` sends
  the same request to it and shows its answer). Not Slack: a drill the local cloud offers.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
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
button.blackout{background:#b3123f}
pre{white-space:pre-wrap;background:#1b2430;color:#e8ecf2;padding:1rem;border-radius:8px}
a{color:#1264a3}
h2.block-header{margin:.25rem 0 .5rem}.block-section{margin:.5rem 0}.block-section>div+div{margin-top:.5rem}
.context{color:#5b6573;font-size:.85rem;margin-top:.5rem}hr{border:0;border-top:1px solid #dde1e8}
code{background:#f1f2f4;color:#c01343;border:1px solid #dde1e8;border-radius:3px;padding:0 .2em;
font-size:.875em}pre code{background:none;color:inherit;border:0;padding:0}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 .15em}
.armed{background:#fff;border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem;box-shadow:0 1px 3px #0002}
.armed summary{cursor:pointer;font-weight:600}.armed-messages{margin-top:.75rem}
.armed .message{box-shadow:none;border:1px solid #dde1e8}
.emoji{display:inline-block;min-width:1.15em;height:1.15em;line-height:1.15em;border-radius:4px;
text-align:center;color:#fff;font:700 .8em/1.45em system-ui,sans-serif;vertical-align:.1em}
.emoji-ok{background:#2eb67d}.emoji-alarm{background:#e01e5a}.emoji-warning{background:#ecb22e}
.emoji-security{background:#4a154b}.emoji-unknown{background:#8a94a6}
"""
# The page reloads every few seconds: an opened "monitoring armed" line stays open across reloads.
KEEP_OPEN = """<script>
for (const d of document.querySelectorAll("details[id]")) {
  if (sessionStorage.getItem(d.id) === "open") d.open = true;
  d.addEventListener("toggle", () => sessionStorage.setItem(d.id, d.open ? "open" : ""));
}
</script>"""


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
    control: str | None = None  # the local control API's URL (blackouts), if any
    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.urls = Map(
            [
                Rule("/services/<path:hook>", endpoint="webhook", methods=["POST"]),
                Rule("/inbox", endpoint="inbox", methods=["GET"]),
                Rule("/console", endpoint="console", methods=["GET"]),
                Rule("/console/send", endpoint="send", methods=["POST"]),
                Rule(
                    "/console/regions/<region>/<any(blackout, restore):action>",
                    endpoint="drill",
                    methods=["POST"],
                ),
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
        items = render_inbox(messages) or "<p>No messages yet.</p>"
        body = (
            f"<header><h1>Slack stand-in: #alerts ({len(messages)} messages)</h1></header><main>"
            '<p><a href="/console">Send a /chaos command</a> · newest first · refreshes every 3 s</p>'
            f"{items}</main>{KEEP_OPEN}"
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
            "errors &lt;0..1&gt; [region] · drill &lt;region&gt; &lt;minutes&gt;</p>"
            '<p><a href="/inbox">Open the #alerts inbox</a></p>'
            f"{self._outages()}</main>"
        )
        return _page("Slack console", body)

    def _outages(self) -> str:
        """The blackout drill: each region's state with a button to black it out or restore it."""
        if self.control is None:
            return ""
        status, answer = self.control_request("GET", "/regions")
        if status != 200 or not isinstance(answer, dict):
            failure = html.escape(str(answer))
            return f"<h2>Region outage drill</h2><p>The control API did not answer: {failure}</p>"
        rows = []
        for region, state in answer["regions"].items():
            out = state["state"] == "blackout"
            action = "restore" if out else "blackout"
            label = f"Restore {region}" if out else f"Black out {region}"
            last = state.get("lastOutage") or {}
            drained = (
                f" · last outage's backlog {last['backlog']}, drained at {last['drainedAt'] or '(draining)'}"
                if last.get("ended")
                else ""
            )
            shown = f"blacked out since {state['since']}" if out else "up"
            rows.append(
                f'<form method="post" action="/console/regions/{html.escape(region)}/{action}">'
                f'<span data-testid="outage-{html.escape(region)}"><strong>{html.escape(region)}</strong>: '
                f"{html.escape(shown)} · replication backlog {state['backlog']}{html.escape(drained)}</span>"
                f'<button type="submit" class="{action}" data-testid="outage-{action}-{html.escape(region)}">'
                f"{html.escape(label)}</button></form>"
            )
        return (
            "<h2>Region outage drill</h2><p>A blackout is a real outage: the region's APIs refuse "
            "connections, its functions stop, its replication queues up.</p>" + "".join(rows)
        )

    def _drill(self, request: Request, region: str, action: str) -> Response:
        status, answer = self.control_request("POST", f"/regions/{urllib.parse.quote(region)}/{action}")
        shown = json.dumps(answer, indent=2) if isinstance(answer, dict) else str(answer)
        body = (
            "<header><h1>Slack stand-in: region outage drill</h1></header><main>"
            f"<p>{html.escape(action)} {html.escape(region)}: the control API answered {status}</p>"
            f'<pre data-testid="drill-answer">{html.escape(shown)}</pre>'
            '<p><a href="/console">Back to the console</a> · <a href="/inbox">Inbox</a></p></main>'
        )
        return _page("Slack console", body)

    def control_request(self, method: str, path: str) -> tuple[int, Any]:
        """A request to the local control API: its status and JSON body (or the failure)."""
        if self.control is None:
            return 404, {"error": "this console has no control API"}
        request = urllib.request.Request(f"{self.control}{path}", method=method)  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except OSError as error:
            return 502, {"error": f"the control API is unreachable: {error}"}
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

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
        except OSError as error:
            # The region's Slack API does not answer (a blackout): as Slack shows a dead app.
            return 502, f"{region}'s Slack API did not answer: {getattr(error, 'reason', error)}"
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")


# The inbox page: messages drawn as Slack draws them


def render_message(message: dict[str, Any]) -> str:
    """One message as HTML: its Block Kit blocks, or its text when it has none. Every piece of
    text is HTML-escaped before any markup is added: messages carry user input (usernames)."""
    parts = [html_block for block in message.get("blocks") or [] if (html_block := _render_block(block))]
    if not parts:
        parts.append(f"<p>{mrkdwn(str(message.get('text', '')))}</p>")
    received = html.escape(str(message.get("received", "")))
    return f'<article class="message"><div class="when">{received}</div>{"".join(parts)}</article>'


def _render_block(block: dict[str, Any]) -> str:
    # The layout blocks the app sends: https://api.slack.com/reference/block-kit/blocks
    kind = block.get("type")
    if kind == "header":
        return f'<h2 class="block-header">{_text(block.get("text"))}</h2>'
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        parts = []
        if block.get("text"):
            parts.append(f'<div class="section-text">{_text(block["text"])}</div>')
        if block.get("fields"):
            cells = "".join(f"<div>{_text(item)}</div>" for item in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        return f'<section class="block-section">{"".join(parts)}</section>' if parts else ""
    if kind == "context":
        elements = [
            _text(element) if element.get("type") in {"mrkdwn", "plain_text"} else ""
            for element in block.get("elements") or []
            if isinstance(element, dict)
        ]
        return f'<div class="context">{" ".join(e for e in elements if e)}</div>'
    return ""


def _text(item: Any) -> str:
    """A text object: mrkdwn drawn, plain_text escaped (both with emoji codes shown as emoji)."""
    if not isinstance(item, dict):
        return ""
    text = str(item.get("text", ""))
    if item.get("type") == "mrkdwn":
        return mrkdwn(text)
    return _emoji(html.escape(text)).replace("\n", "<br>")


# The app's emoji codes as small badges (a symbol every font has, on Slack's colours): pages
# need no emoji font, which headless browsers and many servers lack. Other codes stay as text.
EMOJI = {
    "white_check_mark": ("\u2714", "ok"),
    "rotating_light": ("!", "alarm"),
    "x": ("\u2716", "alarm"),
    "warning": ("!", "warning"),
    "lock": ("!", "security"),
    "grey_question": ("?", "unknown"),
    "bell": ("!", "unknown"),
}
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
# Slack escapes only these three: https://api.slack.com/reference/surfaces/formatting#escaping
_SLACK_ENTITY = re.compile(r"&(amp|lt|gt);")
_SLACK_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}
# Code blocks, inline code and <...> control sequences, in the order Slack reads them.
_TOKEN = re.compile(r"```(?P<block>.*?)```|`(?P<code>[^`\n]+)`|<(?P<link>[^<>\n]+)>", re.DOTALL)
_STYLES = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "del"),
]
SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _unescape(text: str) -> str:
    return _SLACK_ENTITY.sub(lambda match: _SLACK_UNESCAPED[match[1]], text)


def _badge(match: re.Match[str]) -> str:
    if match[1] not in EMOJI:
        return match[0]
    symbol, kind = EMOJI[match[1]]
    name = match[1].replace("_", " ")
    return f'<span class="emoji emoji-{kind}" role="img" aria-label="{name}">{symbol}</span>'


def _emoji(escaped: str) -> str:
    return _EMOJI_CODE.sub(_badge, escaped)


def _styled(text: str) -> str:
    """Plain mrkdwn text (no code, no links) as HTML: escaped first, then bold, italic, strike."""
    out = html.escape(_unescape(text))
    for pattern, tag in _STYLES:
        out = pattern.sub(rf"<{tag}>\1</{tag}>", out)
    return _emoji(out).replace("\n", "<br>")


def _link(inner: str) -> str:
    """A ``<...>`` control sequence: a link (``url`` or ``url|text``), a mention or a channel."""
    target, _, label = inner.partition("|")
    if target.startswith(("@", "#", "!")):  # <@U123>, <#C123|alerts>, <!here>
        sigil = "#" if target.startswith("#") else "@"
        shown = label or target.lstrip("@#!")
        return f'<span class="mention">{sigil}{html.escape(_unescape(shown))}</span>'
    url = _unescape(target)
    text = _styled(label) if label else html.escape(url)
    if not url.lower().startswith(SAFE_SCHEMES):  # javascript:, data: ...: text only
        return text
    return f'<a href="{html.escape(url, quote=True)}" rel="noopener noreferrer">{text}</a>'


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as HTML: *bold*, _italic_, ~strike~, `code`, ```code blocks```, <url|text>,
    <url>, mentions and emoji codes; nothing in `text` can add markup of its own."""
    out, position = [], 0
    for match in _TOKEN.finditer(text):
        out.append(_styled(text[position : match.start()]))
        if match["block"] is not None:
            code = _unescape(match["block"]).strip("\n")
            out.append(f"<pre><code>{html.escape(code)}</code></pre>")
        elif match["code"] is not None:
            out.append(f"<code>{html.escape(_unescape(match['code']))}</code>")
        else:
            out.append(_link(match["link"]))
        position = match.end()
    out.append(_styled(text[position:]))
    return "".join(out)


# "Monitoring armed": every alarm's first OK, folded into one line per region on the page

_ALARM_TEXT = re.compile(r"^:[a-z_]+: (?:OK|ALARM|INSUFFICIENT_DATA): (?P<name>.+) in [a-z0-9-]+$")
_ALARM_CONTEXT = re.compile(r"Alarm `(?P<name>[^`]+)`")
_REGION_AT_END = re.compile(r" in (?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)$")
OK_EMOJI = ":white_check_mark:"


def _alarm_name(message: dict[str, Any]) -> str | None:
    """The alarm a message reports: the notifier names it in its text, the security responder
    in a context block ("Alarm `name` ...")."""
    match = _ALARM_TEXT.match(str(message.get("text", "")))
    if match:
        return match["name"]
    for block in message.get("blocks") or []:
        for element in block.get("elements") or [] if block.get("type") == "context" else []:
            found = _ALARM_CONTEXT.search(str(element.get("text", "")))
            if found:
                return found["name"]
    return None


def _is_ok(message: dict[str, Any]) -> bool:
    header = next((b for b in message.get("blocks") or [] if b.get("type") == "header"), None)
    title = str((header or {}).get("text", {}).get("text", "")) if header else str(message.get("text", ""))
    return title.startswith(OK_EMOJI)


def armed(messages: list[dict[str, Any]]) -> dict[int, str]:
    """The messages (index -> region) that are an alarm's first OK: the first message about that
    alarm, and an OK. Every alarm starts in INSUFFICIENT_DATA and its move to OK runs its OK
    actions, as in AWS; the page folds those into one line per region (the JSON keeps them all)."""
    seen: set[str] = set()
    found: dict[int, str] = {}
    for index, message in enumerate(messages):
        name = _alarm_name(message)
        if name is None:
            continue
        region = _REGION_AT_END.search(str(message.get("text", "")))
        if name not in seen and region and _is_ok(message):
            found[index] = region["region"]
        seen.add(name)
    return found


def render_inbox(messages: list[dict[str, Any]]) -> str:
    """The messages newest first; each region's first OKs as one expandable line where the
    newest of them would be."""
    first_oks = armed(messages)
    groups: dict[str, list[int]] = {}
    for index, region in first_oks.items():
        groups.setdefault(region, []).append(index)
    shown_at = {indices[-1]: region for region, indices in groups.items()}
    items = []
    for index in reversed(range(len(messages))):
        if index in shown_at:
            region = shown_at[index]
            members = groups[region]
            inner = "".join(render_message(messages[i]) for i in reversed(members))
            noun = "alarm" if len(members) == 1 else "alarms"
            items.append(
                f'<details class="armed" id="armed-{html.escape(region)}"><summary>'
                f"{_emoji(OK_EMOJI)} Monitoring armed in {html.escape(region)}: {len(members)} {noun} OK"
                f'</summary><div class="armed-messages">{inner}</div></details>'
            )
        elif index not in first_oks:
            items.append(render_message(messages[index]))
    return "".join(items)


def _page(title: str, body: str, refresh: int | None = None) -> Response:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>'
        f"<style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(document, content_type="text/html; charset=utf-8")
