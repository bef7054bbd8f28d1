"""POST /login: Cognito sign-in, every attempt recorded, one answer for every bad credential."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import DEMO_PASSWORD, DEMO_USER, PRIMARY, TABLE, body_of, http_event, load_event, set_chaos
from webhook_helpers import capture_logs, emitted_metrics


@pytest.fixture
def handler():
    from login.app import handler

    return handler


@pytest.fixture
def cognito(aws) -> Any:
    """The function's own Cognito client, stubbed: a test queues the answers it needs, and any
    other call fails the test."""
    from shared import aws as shared_aws

    client = shared_aws.client("cognito-idp", PRIMARY)
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def login_event(body: Any, **options: Any) -> dict[str, Any]:
    return http_event("POST", "/login", body=body, authorized=False, **options)


def attempts() -> list[dict[str, Any]]:
    return boto3.resource("dynamodb", region_name=PRIMARY).Table(TABLE).scan()["Items"]


def test_login_with_right_password_returns_200_and_tokens(aws, context, handler):
    response = handler(load_event("login_request.json"), context)

    assert response["statusCode"] == 200
    body = body_of(response)
    assert set(body) == {"idToken", "accessToken", "refreshToken", "expiresIn"}
    assert body["idToken"].count(".") == 2
    assert body["accessToken"].count(".") == 2
    assert body["refreshToken"]
    assert isinstance(body["expiresIn"], int)
    assert body["expiresIn"] > 0
    assert response["headers"]["Cache-Control"] == "no-store"


def test_login_with_base64_encoded_body_returns_200(aws, context, handler):
    response = handler(load_event("login_request_base64.json"), context)

    assert response["statusCode"] == 200
    assert "idToken" in body_of(response)


def test_successful_login_records_attempt_with_source_ip_and_ttl(aws, context, handler):
    from shared import model

    before = datetime.now(UTC)
    handler(load_event("login_request.json"), context)

    [item] = attempts()
    at = datetime.fromisoformat(item["at"])
    assert before <= at <= datetime.now(UTC)
    assert item["pk"] == model.login_bucket(at)
    sk_time, sk_region, sk_id = item["sk"].split("#")
    assert sk_time == item["at"]
    assert sk_region == PRIMARY
    assert len(sk_id) == 32
    assert item["username"] == DEMO_USER
    assert item["success"] is True
    assert item["outcome"] == "success"
    assert item["region"] == PRIMARY
    assert item["sourceIp"] == "198.51.100.23"
    assert item[model.TTL_ATTRIBUTE] == model.expires_at(at, model.LOGIN_TTL)


def test_login_with_wrong_password_returns_401_and_records_attempt(aws, context, handler):
    response = handler(login_event({"username": DEMO_USER, "password": "wrong-password"}), context)

    assert response["statusCode"] == 401
    assert body_of(response) == {"error": "incorrect username or password"}
    [item] = attempts()
    assert item["username"] == DEMO_USER
    assert item["success"] is False
    assert item["outcome"] == "rejected"
    assert item["sourceIp"] == "203.0.113.7"


def test_login_with_unknown_user_returns_the_same_401_and_records_attempt(aws, context, handler):
    wrong_password = handler(login_event({"username": DEMO_USER, "password": "wrong-password"}), context)
    unknown_user = handler(login_event({"username": "nobody", "password": "wrong-password"}), context)

    assert unknown_user["statusCode"] == wrong_password["statusCode"] == 401
    assert unknown_user["body"] == wrong_password["body"]
    assert sorted((item["username"], item["success"]) for item in attempts()) == [
        (DEMO_USER, False),
        ("nobody", False),
    ]


def test_failed_login_emits_one_failed_logins_metric(aws, context, handler, capsys):
    handler(login_event({"username": DEMO_USER, "password": "wrong-password"}), context)

    assert emitted_metrics(capsys.readouterr().out) == {"FailedLogins": 1}


def test_successful_login_emits_no_failed_logins_metric(aws, context, handler, capsys):
    handler(load_event("login_request.json"), context)

    assert emitted_metrics(capsys.readouterr().out)["FailedLogins"] == 0


@pytest.mark.parametrize("event_file", ["login_request.json", "login_request_base64.json"])
def test_login_logs_contain_neither_password_nor_tokens(
    aws, context, handler, capsys, monkeypatch, event_file
):
    from login import app

    capture_logs(monkeypatch, app.logger)
    response = handler(load_event(event_file), context)

    tokens = body_of(response)
    logs = capsys.readouterr().out
    assert "login succeeded" in logs
    for secret in (DEMO_PASSWORD, tokens["idToken"], tokens["accessToken"], tokens["refreshToken"]):
        assert secret not in logs


def test_failed_login_logs_do_not_contain_the_password(aws, context, handler, capsys, monkeypatch):
    from login import app

    capture_logs(monkeypatch, app.logger)
    handler(login_event({"username": DEMO_USER, "password": "Guess-Passw0rd!42"}), context)

    logs = capsys.readouterr().out
    assert "login failed" in logs
    assert "Guess-Passw0rd!42" not in logs


def test_login_for_account_needing_new_password_returns_401_naming_the_challenge(aws, context, handler):
    boto3.client("cognito-idp", region_name=PRIMARY).admin_create_user(
        UserPoolId=aws.user_pool_id,
        Username="newcomer",
        TemporaryPassword="Temp-Passw0rd!2026",
        MessageAction="SUPPRESS",
    )

    response = handler(login_event({"username": "newcomer", "password": "Temp-Passw0rd!2026"}), context)

    assert response["statusCode"] == 401
    assert "NEW_PASSWORD_REQUIRED" in body_of(response)["error"]
    [item] = attempts()
    assert (item["success"], item["outcome"]) == (False, "challenge")


def test_login_throttled_by_cognito_returns_429_and_records_attempt(aws, context, handler, cognito):
    cognito.add_client_error("initiate_auth", "TooManyRequestsException", http_status_code=429)

    response = handler(login_event({"username": DEMO_USER, "password": DEMO_PASSWORD}), context)

    assert response["statusCode"] == 429
    assert "too many" in body_of(response)["error"]
    [item] = attempts()
    assert (item["success"], item["outcome"]) == (False, "throttled")


def test_login_when_cognito_fails_returns_503_with_retry(aws, context, handler, cognito, capsys):
    cognito.add_client_error("initiate_auth", "InternalErrorException", http_status_code=500)

    response = handler(login_event({"username": DEMO_USER, "password": DEMO_PASSWORD}), context)

    assert response["statusCode"] == 503
    assert body_of(response)["retry"] is True
    [item] = attempts()
    assert (item["success"], item["outcome"]) == (False, "error")
    assert emitted_metrics(capsys.readouterr().out)["FailedLogins"] == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"username": "demo", "password": ', id="malformed-json"),
        pytest.param("[]", id="not-an-object"),
        pytest.param({"username": "demo"}, id="missing-password"),
        pytest.param({"password": "x"}, id="missing-username"),
        pytest.param({"username": 42, "password": "x"}, id="number-username"),
        pytest.param({"username": "demo", "password": ["x"]}, id="list-password"),
        pytest.param({"username": "", "password": "x"}, id="empty-username"),
        pytest.param({"username": "u" * 129, "password": "x"}, id="username-too-long"),
        pytest.param({"username": "demo", "password": "p" * 257}, id="password-too-long"),
        pytest.param({"username": "de\u0000mo", "password": "x"}, id="nul-in-username"),
    ],
)
def test_login_with_bad_input_returns_400_records_nothing_and_skips_cognito(
    aws, context, handler, cognito, body
):
    response = handler(login_event(body), context)

    assert response["statusCode"] == 400
    assert body_of(response)["error"]
    assert attempts() == []


def test_login_without_body_returns_400(aws, context, handler):
    response = handler(http_event("POST", "/login", authorized=False), context)

    assert response["statusCode"] == 400
    assert body_of(response) == {"error": "request body must be a JSON object"}


def test_login_with_invalid_base64_body_returns_400(aws, context, handler):
    event = login_event("not base64!")
    event["isBase64Encoded"] = True

    response = handler(event, context)

    assert response["statusCode"] == 400
    assert attempts() == []


def test_login_accepts_longest_allowed_username_and_password(aws, context, handler):
    response = handler(login_event({"username": "u" * 128, "password": "p" * 256}), context)

    assert response["statusCode"] == 401
    assert attempts()[0]["username"] == "u" * 128


def test_login_returns_503_and_records_nothing_when_region_failed(aws, context, handler):
    set_chaos(PRIMARY, failed=True)

    response = handler(load_event("login_request.json"), context)

    assert response["statusCode"] == 503
    assert body_of(response)["region"] == PRIMARY
    assert attempts() == []
