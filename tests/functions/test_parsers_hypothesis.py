"""Every parser of untrusted input in functions/, fed anything: it returns a valid result or raises
its own module's clear error (a 4xx ApiError, CommandError, InvalidPageView, ChaosStateError,
MalformedDeadLetter), never another exception (which would be a 500 or a poisoned message).

No AWS and no network: the parsers are plain functions."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import posixpath
import string
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import REGIONS, SIGNING_SECRET, TEAM_ID, load_event
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

# Bounded: the whole file runs in a few seconds.
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Every code point, lone surrogates and NUL included (hypothesis leaves surrogates out by default).
ANY_CHAR = st.characters(codec=None, categories=None)
ANY_TEXT = st.text(ANY_CHAR, max_size=80)
NASTY_TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(["", " ", "\x00", "\ud800", "\udfff", "😀", "\u202e", "\r\n", "..", "%00", "\\"]),
    st.text(alphabet=string.printable, max_size=40),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    NASTY_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(NASTY_TEXT, children, max_size=4),
    max_leaves=12,
)


def _deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# JSON texts a parser may choke on: deep nesting (RecursionError), huge integers (ValueError past
# Python's 4300-digit limit), non-standard constants, and JSON of every shape.
JSON_TEXTS = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value, ensure_ascii=False, allow_nan=True)),
    JSON_VALUES.map(json.dumps),
    st.integers(min_value=2, max_value=20_000).map(_deeply_nested),
    st.integers(min_value=4_000, max_value=6_000).map(lambda digits: '{"a": ' + "9" * digits + "}"),
    st.sampled_from(["NaN", "-Infinity", '{"a": NaN}', "{", "", " ", "\x00", '"\\ud800"', "[1,]"]),
    ANY_TEXT,
)


def _expected(error: Exception, kind: type[Exception], *statuses: int) -> None:
    """The error is the parser's own, with a clear (non-empty, single-line) message."""
    assert isinstance(error, kind), f"{type(error).__name__}: {error}"
    message = getattr(error, "message", None) or str(error)
    assert message.strip(), "empty error message"
    assert message.isprintable(), f"invisible or control characters in {message!r}"
    assert "Traceback" not in message
    if statuses:
        assert error.status in statuses, (error.status, message)  # type: ignore[attr-defined]


# --- shared.http: the JSON body of every user route ---------------------------------------


# The least of a format 2.0 event the router's request view needs besides the body.
HTTP_CONTEXT: dict[str, Any] = {"requestContext": {"http": {"method": "POST", "sourceIp": "203.0.113.7"}}}


def _request(body: str | None, *, base64_encoded: bool = False) -> Any:
    """What ``json_object_body`` reads: the resolver's current event."""
    from shared.router import Request

    event: dict[str, Any] = {"isBase64Encoded": base64_encoded, "rawPath": "/", **HTTP_CONTEXT}
    if body is not None:
        event["body"] = body
    return SimpleNamespace(current_event=Request(event))


def _parse_body(app: Any) -> dict[str, Any] | None:
    from shared.http import ApiError, json_object_body

    try:
        body = json_object_body(app)
    except ApiError as error:
        _expected(error, ApiError, 400, 413)
        return None
    assert isinstance(body, dict)
    return body


@BOUNDED
@given(st.one_of(st.none(), JSON_TEXTS))
def test_json_body_is_an_object_or_a_400(text):
    _parse_body(_request(text))


@BOUNDED
@given(st.one_of(st.binary(max_size=200), JSON_TEXTS.map(lambda text: text.encode("utf-8", "surrogatepass"))))
def test_base64_json_body_is_an_object_or_a_400(data):
    _parse_body(_request(base64.b64encode(data).decode(), base64_encoded=True))


@BOUNDED
@given(ANY_TEXT)
def test_invalid_base64_body_is_a_400_not_a_500(text):
    _parse_body(_request(text, base64_encoded=True))


@pytest.mark.parametrize(
    "text",
    [_deeply_nested(5_000), _deeply_nested(33), '{"a":' * 2_000 + "1" + "}" * 2_000],
    ids=["arrays-5000", "arrays-33", "objects-2000"],
)
def test_deeply_nested_json_body_is_a_400_on_every_python(text):
    """Python 3.11 raises RecursionError at this depth, 3.12 and later parse it: the limit is ours."""
    from shared.http import ApiError, json_object_body

    with pytest.raises(ApiError) as raised:
        json_object_body(_request(text))
    assert raised.value.status == 400
    assert raised.value.message == "request body is nested too deeply"


def test_json_nested_to_the_limit_is_parsed():
    from shared import jsonparse

    assert jsonparse.depth(jsonparse.loads("[" * 32 + "]" * 32)) == 32


def test_json_body_with_a_huge_integer_is_a_400():
    from shared.http import ApiError, json_object_body

    with pytest.raises(ApiError) as raised:
        json_object_body(_request('{"clickId": ' + "1" * 5_000 + "}"))
    assert raised.value.status == 400


@pytest.fixture
def login_fields():
    from login.app import MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH

    return {"username": MAX_USERNAME_LENGTH, "password": MAX_PASSWORD_LENGTH}


@BOUNDED
@given(st.dictionaries(st.sampled_from(["username", "password", "other"]), JSON_VALUES, max_size=3))
def test_login_fields_are_clean_strings_or_a_400(login_fields, body):
    from shared.http import ApiError, require_string

    for field, max_length in login_fields.items():
        try:
            value = require_string(body, field, max_length=max_length)
        except ApiError as error:
            _expected(error, ApiError, 400)
            assert field in error.message
            continue
        # What passes can be sent to Cognito and stored in DynamoDB as it is.
        assert isinstance(value, str)
        assert 0 < len(value) <= max_length
        assert "\x00" not in value
        value.encode("utf-8")


def test_login_field_with_a_lone_surrogate_is_a_400():
    from shared.http import ApiError, require_string

    with pytest.raises(ApiError) as raised:
        require_string({"username": "demo\ud800"}, "username", max_length=128)
    assert raised.value.status == 400


# --- clicks: the optional clickId ---------------------------------------------------------


@BOUNDED
@given(st.one_of(JSON_VALUES, st.uuids().map(str), st.uuids().map(lambda u: str(u).upper())))
def test_click_id_is_a_canonical_uuid_or_a_400(value):
    from clicks.logic import event_id_from
    from shared.http import ApiError

    try:
        event_id = event_id_from({"clickId": value})
    except ApiError as error:
        _expected(error, ApiError, 400)
        return
    assert event_id == str(uuid.UUID(event_id))
    assert isinstance(value, str)
    assert event_id == value.lower()


def test_empty_click_id_is_a_400_not_an_empty_event_id():
    """An empty id was taken as the event id: 200 to the user, then the writer rejected the event
    and it ended in the dead letter queue."""
    from clicks.logic import event_id_from
    from shared.http import ApiError

    with pytest.raises(ApiError) as raised:
        event_id_from({"clickId": ""})
    assert raised.value.status == 400


def test_missing_click_id_gets_a_new_uuid():
    from clicks.logic import event_id_from

    first, second = event_id_from({}), event_id_from({})
    assert first == str(uuid.UUID(first))
    assert first != second


# --- writer: the PageViewed event ---------------------------------------------------------

VALID_DETAIL = load_event("eventbridge_page_viewed.json")["detail"]


@BOUNDED
@given(
    st.one_of(st.just("PageViewed"), NASTY_TEXT, JSON_VALUES),
    st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries({}, optional=dict.fromkeys(VALID_DETAIL, JSON_VALUES)),
        st.dictionaries(st.sampled_from(list(VALID_DETAIL)), JSON_VALUES).map(
            lambda changed: {**VALID_DETAIL, **changed}
        ),
    ),
)
def test_page_view_is_valid_or_invalid_page_view(detail_type, detail):
    from shared import aws
    from writer.logic import InvalidPageView, parse_page_view

    event = {**load_event("eventbridge_page_viewed.json"), "detail-type": detail_type, "detail": detail}
    try:
        view = parse_page_view(event)
    except InvalidPageView as error:
        _expected(error, InvalidPageView)
        return
    assert view.event_id == str(uuid.UUID(view.event_id))
    assert aws.is_region_name(view.region)
    assert view.user_id
    assert view.username


def test_the_sample_page_view_parses():
    from writer.logic import parse_page_view

    assert parse_page_view(load_event("eventbridge_page_viewed.json")).event_id == VALID_DETAIL["eventId"]


# --- chaos state (SSM parameter) ----------------------------------------------------------


@BOUNDED
@given(
    st.one_of(
        JSON_TEXTS,
        st.fixed_dictionaries(
            {}, optional={"failed": JSON_VALUES, "errorRate": JSON_VALUES, "writerFailureRate": JSON_VALUES}
        ).map(json.dumps),
    )
)
def test_chaos_state_is_valid_or_a_chaos_state_error(text):
    from shared.chaos import ChaosState, ChaosStateError

    try:
        state = ChaosState.from_json(text)
    except ChaosStateError as error:
        _expected(error, ChaosStateError)
        return
    assert isinstance(state.failed, bool)
    assert 0.0 <= state.error_rate <= 1.0
    assert 0.0 <= state.writer_failure_rate <= 1.0
    assert ChaosState.from_json(state.to_json()) == state


@BOUNDED
@given(JSON_VALUES)
def test_probability_is_from_0_to_1_or_a_chaos_state_error(value):
    from shared.chaos import ChaosStateError, probability

    try:
        number = probability(value, "errorRate")
    except ChaosStateError as error:
        _expected(error, ChaosStateError)
        assert "errorRate" in str(error)
        return
    assert 0.0 <= number <= 1.0


# --- Slack: command text, signature, body -------------------------------------------------

WORDS = st.sampled_from(["status", "fail", "recover", "errors", "help", "FAIL", *REGIONS, "0.5", "1", "2"])
COMMAND_TEXT = st.one_of(ANY_TEXT, st.lists(st.one_of(WORDS, NASTY_TEXT), max_size=4).map(" ".join))


@BOUNDED
@given(COMMAND_TEXT)
def test_chaos_command_text_parses_or_is_a_command_error(text):
    from slack_commands.commands import CommandError, parse

    try:
        command = parse(text, list(REGIONS))
    except CommandError as error:
        _expected(error, CommandError)
        return
    assert command.verb in {"help", "status", "fail", "recover", "errors"}
    assert set(command.regions) <= set(REGIONS)
    if command.error_rate is not None:
        assert 0.0 <= command.error_rate <= 1.0


def test_echoed_command_shows_bidi_and_control_characters_as_replacement_characters():
    from slack_commands.commands import CommandError, parse

    with pytest.raises(CommandError) as raised:
        parse("fail us-east-1\u202e\x00", list(REGIONS))
    assert "us-east-1\ufffd\ufffd" in str(raised.value)


@pytest.fixture
def fixed_clock(monkeypatch):
    from slack_commands import verify
    from slack_helpers import FrozenClock

    clock = FrozenClock(float(int(time.time())))
    monkeypatch.setattr(verify, "clock", clock)
    return clock


def _slack_signature(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = b"v0:" + timestamp.encode("utf-8", "surrogatepass") + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256)
    return "v0=" + digest.hexdigest()


@BOUNDED
@given(
    body=st.binary(max_size=200) | ANY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    timestamp=st.one_of(ANY_TEXT, st.integers(-(10**13), 10**13).map(str)),
    signature=st.one_of(
        ANY_TEXT, st.binary(min_size=32, max_size=32).map(lambda raw: "v0=" + raw.hex()), st.just("v0=")
    ),
)
def test_slack_signature_check_accepts_nothing_unsigned(fixed_clock, body, timestamp, signature):
    from shared.http import ApiError
    from slack_commands.verify import verify_signature

    assume(signature != _slack_signature(body, timestamp))
    with pytest.raises(ApiError) as raised:
        verify_signature(body, timestamp, signature, SIGNING_SECRET)
    _expected(raised.value, ApiError, 401)


@BOUNDED
@given(
    body=st.text(max_size=200).map(str.encode),
    age=st.integers(min_value=-2_000, max_value=2_000),
    secret=st.sampled_from([SIGNING_SECRET, "another-apps-signing-secret"]),
)
def test_slack_signature_check_accepts_exactly_fresh_signed_requests(fixed_clock, body, age, secret):
    from shared.http import ApiError
    from slack_commands.verify import verify_signature

    timestamp = str(int(fixed_clock.now()) - age)
    signature = _slack_signature(body, timestamp, secret)
    fresh = abs(age) <= 5 * 60
    if fresh and secret == SIGNING_SECRET:
        verify_signature(body, timestamp, signature, SIGNING_SECRET)
        return
    with pytest.raises(ApiError) as raised:
        verify_signature(body, timestamp, signature, SIGNING_SECRET)
    _expected(raised.value, ApiError, 401)


@BOUNDED
@given(
    body=st.text(max_size=200).map(str.encode) | st.binary(max_size=100),
    age=st.integers(min_value=-400, max_value=400),
    forged=st.booleans(),
)
def test_slack_signature_check_agrees_with_slack_sdk(fixed_clock, body, age, forged):
    """The standard-library check (no slack_sdk import on the cold path) decides as slack_sdk does."""
    from shared.http import ApiError
    from slack_commands.verify import verify_signature
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(fixed_clock.now()) - age)
    signature = _slack_signature(body, timestamp, "forged-secret" if forged else SIGNING_SECRET)
    try:
        expected = SignatureVerifier(SIGNING_SECRET, clock=fixed_clock).is_valid(body, timestamp, signature)
    except UnicodeDecodeError:
        expected = False  # slack_sdk raises on a body that is not UTF-8; Slack never sends one
    try:
        verify_signature(body, timestamp, signature, SIGNING_SECRET)
        accepted = True
    except ApiError:
        accepted = False
    assert accepted == expected


def test_slack_signature_check_accepts_slacks_documented_example(monkeypatch):
    """The example in Slack's "Verifying requests from Slack" guide."""
    from slack_commands import verify
    from slack_helpers import FrozenClock

    monkeypatch.setattr(verify, "clock", FrozenClock(1531420618.0))
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    verify.verify_signature(
        body,
        "1531420618",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "8f742231b10e8888abcd99yyyzzz85a5",
    )


@BOUNDED
@given(st.one_of(st.none(), ANY_TEXT), st.booleans())
def test_slack_raw_body_is_bytes_or_a_401(body, base64_encoded):
    from shared.http import ApiError
    from shared.router import Request
    from slack_commands.verify import raw_body

    event = {"body": body, "isBase64Encoded": base64_encoded, "rawPath": "/", **HTTP_CONTEXT}
    try:
        data = raw_body(Request(event))
    except ApiError as error:
        _expected(error, ApiError, 401)
        return
    assert isinstance(data, bytes)


FORM_BODIES = st.one_of(
    st.binary(max_size=200),
    ANY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.lists(st.tuples(NASTY_TEXT, NASTY_TEXT), max_size=70).map(
        lambda pairs: "&".join(f"{key}={value}" for key, value in pairs).encode("utf-8", "surrogatepass")
    ),
)


@BOUNDED
@given(FORM_BODIES)
def test_slack_form_is_single_valued_fields_or_a_400(body):
    from shared.http import ApiError
    from slack_commands.verify import MAX_FORM_FIELDS, form_fields

    try:
        fields = form_fields(body)
    except ApiError as error:
        _expected(error, ApiError, 400)
        return
    assert len(fields) <= MAX_FORM_FIELDS
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in fields.items())


@BOUNDED
@given(st.one_of(st.binary(max_size=200), JSON_TEXTS.map(lambda text: text.encode("utf-8", "surrogatepass"))))
def test_slack_event_body_is_an_object_or_a_400(body):
    from shared.http import ApiError
    from slack_commands.verify import json_object

    try:
        payload = json_object(body)
    except ApiError as error:
        _expected(error, ApiError, 400)
        return
    assert isinstance(payload, dict)


@BOUNDED
@given(st.one_of(JSON_VALUES, st.just(TEAM_ID)))
def test_slack_team_is_allowed_or_a_403(team):
    from shared.http import ApiError
    from slack_commands.verify import require_allowed_team

    try:
        allowed = require_allowed_team(team)
    except ApiError as error:
        _expected(error, ApiError, 403)
        return
    assert allowed == TEAM_ID


# --- dead letters: the SQS record ---------------------------------------------------------

DEAD_RECORDS = load_event("sqs_dead_letters.json")["Records"]
ATTRIBUTE_TEXT = st.one_of(
    NASTY_TEXT, st.integers().map(str), st.sampled_from(["1795597500123", "100000000000000000000", "-1"])
)


@BOUNDED
@given(
    record=st.sampled_from(DEAD_RECORDS),
    body=st.one_of(
        JSON_TEXTS,
        st.fixed_dictionaries(
            {"requestContext": st.one_of(JSON_VALUES, st.dictionaries(NASTY_TEXT, JSON_VALUES, max_size=4))},
            optional={
                "requestPayload": JSON_VALUES,
                "responsePayload": JSON_VALUES,
                "detail-type": JSON_VALUES,
            },
        ).map(json.dumps),
    ),
    sent=ATTRIBUTE_TEXT,
    receive_count=ATTRIBUTE_TEXT,
    error_code=st.one_of(st.none(), NASTY_TEXT),
)
def test_dead_letter_is_parsed_or_malformed(record, body, sent, receive_count, error_code):
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from dead_letters.logic import MalformedDeadLetter, parse

    # An SQS body is Unicode text on the wire: it cannot hold a lone surrogate.
    assume(_is_utf8_encodable(body))
    raw = copy.deepcopy(record)
    raw["body"] = body
    raw["attributes"].update(SentTimestamp=sent, ApproximateReceiveCount=receive_count)
    if error_code is None:
        raw["messageAttributes"].pop("ERROR_CODE", None)
    else:
        raw["messageAttributes"]["ERROR_CODE"] = {"stringValue": error_code, "dataType": "String"}
    try:
        letter = parse(SQSRecord(raw))
    except MalformedDeadLetter as error:
        _expected(error, MalformedDeadLetter)
        return
    item = letter.item()
    assert item["reason"]["S"]
    assert len(item["body"]["S"].encode("utf-8", "surrogatepass")) <= 8 * 1024 + 4


def _is_utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- web: asset paths ---------------------------------------------------------------------

PATH_PIECES = st.sampled_from(
    ["/", "..", ".", "%2e", "%2f", "%5c", "\\", "\x00", "assets", "app.js", "//", "~", "%00", "%252e", " "]
)
PATHS = st.one_of(
    ANY_TEXT,
    st.lists(st.one_of(PATH_PIECES, NASTY_TEXT), max_size=8).map("".join),
    st.lists(PATH_PIECES, max_size=8).map(lambda parts: "/assets/" + "/".join(parts)),
)


@BOUNDED
@given(PATHS)
def test_a_safe_path_never_leaves_the_site(path):
    from web.logic import content_type_for, is_safe_path

    if not is_safe_path(path):
        return
    key = path.removeprefix("/")
    assert path.isascii()
    assert not any(char in path for char in "\\%\x00 ")
    assert ".." not in path.split("/")
    # The key names a file under the site root and nowhere else.
    resolved = posixpath.normpath(posixpath.join("/site", key))
    assert resolved == "/site" or resolved.startswith("/site/")
    assert resolved.removeprefix("/site/") == key.rstrip("/") or key == ""
    content_type_for(key)


@BOUNDED
@given(ANY_TEXT)
def test_content_type_is_a_served_type_or_none(key):
    from web.logic import CONTENT_TYPES, content_type_for

    assert content_type_for(key) in (*CONTENT_TYPES.values(), None)


@BOUNDED
@given(ANY_TEXT)
def test_accept_header_never_breaks_the_404(accept):
    from web.logic import prefers_html

    assert prefers_html(accept) in (True, False)


def test_a_registry_url_that_cannot_be_parsed_is_left_out():
    from web.logic import api_origins

    assert api_origins(["http://[::1", "https://api.example.com/prod"]) == ["https://api.example.com"]


@BOUNDED
@given(st.lists(st.one_of(ANY_TEXT, st.sampled_from(["http://[", "https://[::1", "http://a]b"])), max_size=4))
def test_a_bad_registry_url_is_left_out_of_the_policy(urls):
    from web.logic import api_origins

    for origin in api_origins(urls):
        assert origin.startswith(("http://", "https://"))
        assert not any(char in origin for char in " ;,'\"")
