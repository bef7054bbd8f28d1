"""Slack's ssl_check on the slash command URL: an empty 200 before the signature and team checks,
as Slack's Bolt frameworks answer it, and nothing else runs."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from conftest import SECONDARY, load_event
from slack_helpers import chaos_values, sign, signed, with_body

# What Slack sends: the command's token and ssl_check=1, no command, no team.
SSL_CHECK = b"ssl_check=1&token=gIkuvaNzQIHg97ATvDxqgjtO"


@pytest.fixture
def handler():
    from slack_commands.app import handler

    return handler


def unsigned(body: bytes, *, base64_body: bool = False) -> dict[str, Any]:
    """A request to the slash command URL carrying ``body``, without Slack's signature headers."""
    event = with_body(load_event("slack_command_base64.json" if base64_body else "slack_command.json"), body)
    headers = dict(event["headers"])
    del headers["x-slack-signature"], headers["x-slack-request-timestamp"]
    return {**event, "headers": headers}


@pytest.mark.parametrize("base64_body", [False, True])
def test_ssl_check_returns_an_empty_200_without_signature_and_changes_nothing(
    aws, handler, context, base64_body
):
    before = chaos_values()

    response = handler(unsigned(SSL_CHECK, base64_body=base64_body), context)

    assert response["statusCode"] == 200
    assert response["body"] == ""
    assert chaos_values() == before


def test_signed_ssl_check_returns_an_empty_200(aws, handler, context):
    response = handler(signed(unsigned(SSL_CHECK)), context)

    assert response["statusCode"] == 200
    assert response["body"] == ""


def test_ssl_check_is_answered_before_the_team_check(aws, handler, context):
    response = handler(signed(unsigned(SSL_CHECK + b"&team_id=T9999")), context)

    assert response["statusCode"] == 200
    assert response["body"] == ""


def test_ssl_check_field_does_not_carry_a_forged_command_past_the_signature(aws, handler, context):
    before = chaos_values()
    form = f"team_id=T0001&user_name=mallory&command=%2Fchaos&text=fail+{SECONDARY}&ssl_check=1".encode()
    event = unsigned(form)
    event["headers"].update({"x-slack-request-timestamp": "0", "x-slack-signature": sign(form, 0, "forged")})

    response = handler(event, context)

    assert response["statusCode"] == 200
    assert response["body"] == ""
    assert chaos_values() == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"ssl_check=0&token=gIkuvaNzQIHg97ATvDxqgjtO", id="ssl_check-0"),
        pytest.param(b"ssl_check=1&ssl_check=1&token=x", id="repeated"),
        pytest.param(b'{"ssl_check": "1"}', id="json"),
    ],
)
def test_anything_but_a_form_with_one_ssl_check_1_needs_a_signature(aws, handler, context, body):
    response = handler(unsigned(body), context)

    assert response["statusCode"] == 401


def test_ssl_check_with_a_json_content_type_needs_a_signature(aws, handler, context):
    event = unsigned(SSL_CHECK)
    event["headers"]["content-type"] = "application/json"

    assert handler(event, context)["statusCode"] == 401


def test_ssl_check_body_that_is_not_base64_needs_a_signature(aws, handler, context):
    event = unsigned(SSL_CHECK, base64_body=True)
    event["body"] = "not base64!" + base64.b64encode(SSL_CHECK).decode()

    assert handler(event, context)["statusCode"] == 401
