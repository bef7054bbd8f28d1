"""The Slack API function end to end: signed events in, SSM chaos parameters (moto) changed."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading

import boto3
import pytest
from conftest import APP, PRIMARY, SECONDARY, SIGNING_SECRET, body_of, load_event, set_chaos
from slack_helpers import (
    FrozenClock,
    body_bytes,
    chaos_state,
    chaos_values,
    command_event,
    events_api_event,
    sign,
    signed,
    signed_command,
    with_body,
)

NOW = 1_795_597_200


@pytest.fixture
def handler():
    from slack_commands.app import handler

    return handler


@pytest.fixture
def frozen_clock(monkeypatch):
    from slack_commands import verify

    clock = FrozenClock(NOW)
    monkeypatch.setattr(verify, "clock", clock)
    return clock


def slack_reply(response):
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)


# --- commands -------------------------------------------------------------------------------


def test_status_lists_both_regions(aws, handler, context):
    reply = slack_reply(handler(signed_command("status"), context))

    assert reply["response_type"] == "ephemeral"
    assert f"`{PRIMARY}`: ok, error rate 0%" in reply["text"]
    assert f"`{SECONDARY}`: ok, error rate 0%" in reply["text"]


def test_status_shows_failed_region_and_writer_failure_rate(aws, handler, context):
    set_chaos(SECONDARY, failed=True, errorRate=0.25, writerFailureRate=0.1)

    reply = slack_reply(handler(signed_command("status"), context))

    assert f"`{SECONDARY}`: *FAILED*, error rate 25%, writer failure rate 10%" in reply["text"]
    assert "writer failure rate" not in reply["text"].split(SECONDARY)[0]


def test_status_marks_unreadable_region_unknown_and_still_lists_the_other(aws, handler, context):
    boto3.client("ssm", region_name=SECONDARY).delete_parameter(Name=f"/{APP}/chaos/{SECONDARY}")

    reply = slack_reply(handler(signed_command("status"), context))

    assert f"`{SECONDARY}`: unknown (ParameterNotFound)" in reply["text"]
    assert f"`{PRIMARY}`: ok" in reply["text"]


def test_fail_sets_that_regions_parameter_failed(aws, handler, context):
    reply = slack_reply(handler(signed_command(f"fail {SECONDARY}"), context))

    assert chaos_state(SECONDARY)["failed"] is True
    assert chaos_state(PRIMARY)["failed"] is False
    assert reply["response_type"] == "in_channel"
    assert f"{SECONDARY} is now FAILED" in reply["text"]
    assert "@alice" in reply["text"]
    assert f"traffic moves to {PRIMARY}" in reply["text"]
    assert reply["blocks"][0]["text"]["text"].startswith(f"*{SECONDARY} is now FAILED*")


def test_recover_clears_failed(aws, handler, context):
    set_chaos(SECONDARY, failed=True)

    reply = slack_reply(handler(signed_command(f"recover {SECONDARY}"), context))

    assert chaos_state(SECONDARY)["failed"] is False
    assert reply["response_type"] == "in_channel"
    assert f"{SECONDARY} is ok again" in reply["text"]


def test_fail_keeps_the_other_fields_of_the_state(aws, handler, context):
    set_chaos(SECONDARY, errorRate=0.3, writerFailureRate=0.2)

    handler(signed_command(f"fail {SECONDARY}"), context)

    assert chaos_state(SECONDARY) == {"failed": True, "errorRate": 0.3, "writerFailureRate": 0.2}


def test_failing_the_last_healthy_region_warns_that_none_is_left(aws, handler, context):
    set_chaos(PRIMARY, failed=True)

    reply = slack_reply(handler(signed_command(f"fail {SECONDARY}"), context))

    assert chaos_state(SECONDARY)["failed"] is True
    assert "no healthy region is left" in reply["text"]


def test_errors_without_region_sets_every_region(aws, handler, context):
    reply = slack_reply(handler(signed_command("errors 0.5"), context))

    assert chaos_state(PRIMARY)["errorRate"] == 0.5
    assert chaos_state(SECONDARY)["errorRate"] == 0.5
    assert reply["response_type"] == "in_channel"
    assert "50%" in reply["text"]


def test_errors_with_region_sets_only_that_region(aws, handler, context):
    handler(signed_command(f"errors 1 {PRIMARY}"), context)

    assert chaos_state(PRIMARY)["errorRate"] == 1.0
    assert chaos_state(SECONDARY)["errorRate"] == 0.0


def test_errors_zero_turns_injected_errors_off(aws, handler, context):
    set_chaos(PRIMARY, errorRate=0.4, failed=True)

    reply = slack_reply(handler(signed_command(f"errors 0 {PRIMARY}"), context))

    assert chaos_state(PRIMARY) == {"failed": True, "errorRate": 0.0, "writerFailureRate": 0.0}
    assert "turned injected errors off" in reply["text"]


def test_verbs_are_case_insensitive_and_whitespace_tolerant(aws, handler, context):
    reply = slack_reply(handler(signed_command(f"  FAIL \t {SECONDARY.upper()}  "), context))

    assert reply["response_type"] == "in_channel"
    assert chaos_state(SECONDARY)["failed"] is True


@pytest.mark.parametrize("text", ["", "help", "HELP me"])
def test_empty_or_help_answers_usage_and_changes_nothing(aws, handler, context, text):
    before = chaos_values()

    reply = slack_reply(handler(signed_command(text), context))

    assert reply["response_type"] == "ephemeral"
    assert "/chaos fail <region>" in reply["text"]
    assert chaos_values() == before


def test_fail_unknown_region_answers_ephemeral_listing_valid_regions(aws, handler, context):
    before = chaos_values()

    reply = slack_reply(handler(signed_command("fail mars-1"), context))

    assert reply == {"response_type": "ephemeral", "text": reply["text"]}
    assert "unknown region `mars-1`" in reply["text"]
    assert f"*Regions:* {PRIMARY}, {SECONDARY}" in reply["text"]
    assert "/chaos errors <0..1> [region]" in reply["text"]
    assert chaos_values() == before


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("errors abc", "must be a number from 0 to 1"),
        ("errors 2", "must be a number from 0 to 1"),
        ("errors nan", "must be a number from 0 to 1"),
        ("errors inf", "must be a number from 0 to 1"),
        ("errors -0.1", "must be a number from 0 to 1"),
        ("errors 1e-1", "must be a number from 0 to 1"),
        ("errors", "needs a rate"),
        ("errors 0.5 mars-1", "unknown region"),
        (f"errors 0.5 {PRIMARY} {SECONDARY}", "unexpected arguments"),
        ("fail", "needs a region"),
        (f"fail {PRIMARY} now", "unexpected arguments: `now`"),
        ("status please", "unexpected arguments"),
        ("explode", "unknown command `explode`"),
    ],
)
def test_malformed_command_answers_ephemeral_and_changes_nothing(aws, handler, context, text, reason):
    before = chaos_values()

    reply = slack_reply(handler(signed_command(text), context))

    assert reply["response_type"] == "ephemeral"
    assert reason in reply["text"]
    assert f"*Regions:* {PRIMARY}, {SECONDARY}" in reply["text"]
    assert chaos_values() == before


def test_echoed_input_is_escaped_so_it_cannot_mention_the_channel(aws, handler, context):
    reply = slack_reply(handler(signed_command("fail <!channel>"), context))

    assert "<!channel>" not in reply["text"]
    assert "&lt;!channel&gt;" in reply["text"]


def test_corrupt_state_is_replaced_by_fail_and_noted(aws, handler, context):
    boto3.client("ssm", region_name=SECONDARY).put_parameter(
        Name=f"/{APP}/chaos/{SECONDARY}", Type="String", Value="not json", Overwrite=True
    )

    reply = slack_reply(handler(signed_command(f"fail {SECONDARY}"), context))

    assert chaos_state(SECONDARY) == {"failed": True, "errorRate": 0.0, "writerFailureRate": 0.0}
    assert "was unreadable" in reply["text"]
    assert reply["blocks"][1]["type"] == "context"


def test_unreadable_target_changes_nothing_and_says_so(aws, handler, context):
    boto3.client("ssm", region_name=PRIMARY).delete_parameter(Name=f"/{APP}/chaos/{PRIMARY}")
    secondary_before = chaos_values()[SECONDARY]

    reply = slack_reply(handler(signed_command(f"errors 0.5 {PRIMARY}"), context))

    assert reply["response_type"] == "ephemeral"
    assert f"could not read `{PRIMARY}` (ParameterNotFound)" in reply["text"]
    assert chaos_values()[SECONDARY] == secondary_before


def test_unreadable_registry_answers_ephemeral_and_changes_nothing(aws, handler, context):
    boto3.client("ssm", region_name=PRIMARY).put_parameter(
        Name=f"/{APP}/regions/{SECONDARY}", Type="String", Value="{broken", Overwrite=True
    )
    before = chaos_values()

    reply = slack_reply(handler(signed_command(f"fail {SECONDARY}"), context))

    assert reply["response_type"] == "ephemeral"
    assert "Could not list the deployed regions" in reply["text"]
    assert chaos_values() == before


# --- signature ------------------------------------------------------------------------------


def assert_rejected(response, status, before):
    assert response["statusCode"] == status
    assert "error" in body_of(response)
    assert chaos_values() == before


def test_forged_signature_returns_401_and_changes_nothing(aws, handler, context):
    before = chaos_values()
    event = signed(command_event(f"fail {SECONDARY}"), secret="not-the-signing-secret")

    response = handler(event, context)

    assert_rejected(response, 401, before)
    assert body_of(response) == {"error": "invalid Slack signature"}


def test_garbage_signature_returns_401_and_changes_nothing(aws, handler, context):
    before = chaos_values()
    event = signed_command(f"fail {SECONDARY}")
    event["headers"]["x-slack-signature"] = "v0=" + "é" * 64

    assert_rejected(handler(event, context), 401, before)


def test_replayed_request_over_5_minutes_old_returns_401(aws, handler, context, frozen_clock):
    before = chaos_values()
    event = signed_command(f"fail {SECONDARY}", timestamp=NOW - 301)

    response = handler(event, context)

    assert_rejected(response, 401, before)
    assert body_of(response) == {"error": "invalid Slack signature"}


def test_request_exactly_5_minutes_old_is_accepted(aws, handler, context, frozen_clock):
    response = handler(signed_command(f"fail {SECONDARY}", timestamp=NOW - 300), context)

    assert response["statusCode"] == 200
    assert chaos_state(SECONDARY)["failed"] is True


def test_timestamp_over_5_minutes_in_the_future_returns_401(aws, handler, context, frozen_clock):
    before = chaos_values()

    assert_rejected(handler(signed_command(f"fail {SECONDARY}", timestamp=NOW + 301), context), 401, before)


def test_non_numeric_timestamp_returns_401(aws, handler, context):
    before = chaos_values()
    event = signed_command(f"fail {SECONDARY}")
    event["headers"]["x-slack-request-timestamp"] = "soon"

    assert_rejected(handler(event, context), 401, before)


def test_tampered_body_returns_401_and_changes_nothing(aws, handler, context):
    before = chaos_values()
    event = signed_command("status")
    tampered = event["body"].replace("text=status", f"text=fail+{SECONDARY}")
    assert tampered != event["body"]

    assert_rejected(handler({**event, "body": tampered}, context), 401, before)


def test_request_without_signature_headers_returns_401(aws, handler, context):
    before = chaos_values()
    event = command_event(f"fail {SECONDARY}")
    del event["headers"]["x-slack-signature"]
    del event["headers"]["x-slack-request-timestamp"]

    response = handler(event, context)

    assert_rejected(response, 401, before)
    assert "missing Slack signature headers" in body_of(response)["error"]


@pytest.mark.parametrize("base64_body", [True, False])
def test_signature_is_verified_over_the_decoded_body_base64_or_not(aws, handler, context, base64_body):
    event = signed_command(f"fail {SECONDARY}", base64_body=base64_body)
    assert event["isBase64Encoded"] is base64_body

    response = handler(event, context)

    assert response["statusCode"] == 200
    assert chaos_state(SECONDARY)["failed"] is True


def test_signature_over_the_base64_text_instead_of_the_bytes_returns_401(aws, handler, context, frozen_clock):
    before = chaos_values()
    event = command_event(f"fail {SECONDARY}", base64_body=True)
    event["headers"].update(
        {"x-slack-request-timestamp": str(NOW), "x-slack-signature": sign(event["body"].encode(), NOW)}
    )

    assert_rejected(handler(event, context), 401, before)


def test_invalid_base64_body_returns_401(aws, handler, context):
    before = chaos_values()
    event = signed_command(f"fail {SECONDARY}", base64_body=True)
    event["body"] = "not base64!"

    assert_rejected(handler(event, context), 401, before)


def test_signed_non_utf8_body_returns_401(aws, handler, context):
    before = chaos_values()
    event = signed(with_body(load_event("slack_command_base64.json"), b"text=\xff\xfe"))

    assert_rejected(handler(event, context), 401, before)


def test_signature_is_checked_against_the_secret_in_ssm(aws, handler, context):
    from shared import parameters

    boto3.client("ssm", region_name=PRIMARY).put_parameter(
        Name=f"/{APP}/slack/signing-secret", Type="SecureString", Value="rotated-secret", Overwrite=True
    )
    parameters.clear_caches()

    old = handler(signed_command("status"), context)
    new = handler(signed(command_event("status"), secret="rotated-secret"), context)

    assert old["statusCode"] == 401
    assert new["statusCode"] == 200


def test_logs_name_the_command_but_never_the_signature_or_secret(aws, handler, context, monkeypatch):
    stream = io.StringIO()
    for log_handler in logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).handlers:
        monkeypatch.setattr(log_handler, "stream", stream)
    event = signed_command(f"fail {SECONDARY}")

    handler(event, context)

    logs = stream.getvalue()
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    command_logs = [record for record in records if record.get("message") == "chaos command"]
    assert command_logs[0]["user"] == "alice"
    assert command_logs[0]["team"] == "T0001"
    assert command_logs[0]["verb"] == "fail"
    assert command_logs[0]["regions"] == [SECONDARY]
    assert event["headers"]["x-slack-signature"] not in logs
    assert SIGNING_SECRET not in logs
    assert "response_url" not in logs


def ssm_calls(region: str = PRIMARY) -> list[tuple[str, str]]:
    """Every SSM call the function's client for ``region`` makes from now: (operation, thread)."""
    from shared import aws as clients

    calls: list[tuple[str, str]] = []
    clients.client("ssm", region).meta.events.register(
        "before-call.ssm", lambda model, **_: calls.append((model.name, threading.current_thread().name))
    )
    return calls


def test_a_command_reads_the_registry_while_the_signature_check_reads_the_secret(aws, handler, context):
    from shared import aws as clients

    registry_read = threading.Event()
    secret_read_waited = []

    def before_call(model, params, **_):
        if model.name == "GetParametersByPath":
            registry_read.set()
        elif params.get("Name") == f"/{APP}/slack/signing-secret":  # goes on once the registry's read began
            secret_read_waited.append(registry_read.wait(timeout=5))

    clients.client("ssm", PRIMARY).meta.events.register("before-parameter-build.ssm", before_call)

    reply = slack_reply(handler(signed_command("status"), context))

    assert secret_read_waited == [True]
    assert f"`{SECONDARY}`: ok, error rate 0%" in reply["text"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-slack-request-timestamp": str(NOW - 301)},
        {"x-slack-signature": "v0=forged"},
    ],
    ids=["unsigned", "replayed", "malformed-signature"],
)
def test_a_request_that_cannot_be_signed_reads_nothing_from_ssm(aws, handler, context, frozen_clock, headers):
    event = signed_command("status", timestamp=NOW)
    if not headers:
        del event["headers"]["x-slack-request-timestamp"], event["headers"]["x-slack-signature"]
    event["headers"].update(headers)
    if "x-slack-request-timestamp" in headers:
        event["headers"]["x-slack-signature"] = sign(body_bytes(event), NOW - 301)
    calls = ssm_calls()

    response = handler(event, context)

    assert response["statusCode"] == 401
    assert calls == []


def test_a_forged_but_well_formed_request_reads_the_registry_at_most_once_per_max_age(
    aws, handler, context, frozen_clock
):
    from shared import registry

    calls = ssm_calls()
    for _ in range(3):
        event = signed_command("status", timestamp=NOW)
        event["headers"]["x-slack-signature"] = "v0=" + "0" * 64
        assert handler(event, context)["statusCode"] == 401
    assert handler(signed_command("status", timestamp=NOW), context)["statusCode"] == 200

    registry_reads = [thread for name, thread in calls if name == "GetParametersByPath"]
    assert len(registry_reads) == 1, calls
    assert registry_reads[0].startswith("registry")
    assert registry.MAX_AGE_SECONDS >= 30


# --- team and body --------------------------------------------------------------------------


def test_non_allowed_team_returns_403_and_changes_nothing(aws, handler, context):
    before = chaos_values()

    response = handler(signed_command(f"fail {SECONDARY}", team_id="T9999"), context)

    assert_rejected(response, 403, before)


def test_any_of_several_allowed_teams_is_accepted(aws, handler, context, monkeypatch):
    monkeypatch.setenv("ALLOWED_TEAM_IDS", "T0001, T0002 ,")

    response = handler(signed_command("status", team_id="T0002"), context)

    assert response["statusCode"] == 200


def test_command_without_team_returns_403(aws, handler, context):
    event = command_event("status")
    form = event["body"].replace("team_id=T0001&", "")
    before = chaos_values()

    assert_rejected(handler(signed(with_body(event, form.encode())), context), 403, before)


@pytest.mark.parametrize("body", [b"text", b"text=status&&team_id=T0001", b"team_id=T0001&team_id=T0002"])
def test_malformed_form_body_returns_400(aws, handler, context, body):
    before = chaos_values()

    assert_rejected(handler(signed(with_body(load_event("slack_command.json"), body)), context), 400, before)


def test_oversized_body_returns_413(aws, handler, context):
    event = signed_command("status " + "x" * 70_000)

    assert handler(event, context)["statusCode"] == 413


def test_unknown_slack_route_returns_404(aws, handler, context):
    event = signed_command("status")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/slack/other"

    assert handler(event, context)["statusCode"] == 404


# --- events API -----------------------------------------------------------------------------


def test_url_verification_returns_the_challenge(aws, handler, context):
    event = signed(load_event("slack_url_verification.json"))
    challenge = json.loads(event["body"])["challenge"]

    response = handler(event, context)

    assert response["statusCode"] == 200
    assert body_of(response) == {"challenge": challenge}


def test_url_verification_base64_returns_the_challenge(aws, handler, context):
    plain = load_event("slack_url_verification.json")
    event = signed(
        {**plain, "isBase64Encoded": True, "body": base64.b64encode(plain["body"].encode()).decode()}
    )

    assert body_of(handler(event, context))["challenge"].startswith("3eZbrw1aBm2r")


def test_url_verification_with_bad_signature_returns_401(aws, handler, context):
    event = signed(load_event("slack_url_verification.json"), secret="forged")

    response = handler(event, context)

    assert response["statusCode"] == 401
    assert "challenge" not in body_of(response)


def test_url_verification_without_challenge_returns_400(aws, handler, context):
    event = signed(events_api_event({"type": "url_verification", "token": "x"}))

    assert handler(event, context)["statusCode"] == 400


def test_event_callback_from_allowed_team_is_acknowledged(aws, handler, context):
    event = signed(events_api_event({"type": "event_callback", "team_id": "T0001", "event": {}}))

    response = handler(event, context)

    assert response["statusCode"] == 200
    assert body_of(response) == {}


def test_event_callback_from_other_team_returns_403(aws, handler, context):
    event = signed(events_api_event({"type": "event_callback", "team_id": "T9999", "event": {}}))

    assert handler(event, context)["statusCode"] == 403


@pytest.mark.parametrize("body", [b"challenge=abc", b"[1, 2]", b""])
def test_non_json_object_events_body_returns_400(aws, handler, context, body):
    event = signed(events_api_event(body))

    assert handler(event, context)["statusCode"] == 400
