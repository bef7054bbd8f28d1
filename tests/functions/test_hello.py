"""GET /hello: a greeting from this region, for ID and access tokens alike."""

from __future__ import annotations

import base64

import pytest
from conftest import BUCKET, PRIMARY, ROOT, body_of, http_event, load_event, set_chaos
from webhook_helpers import emitted_dimensions, emitted_metrics

ACCESS_TOKEN_CLAIMS = load_event("click_request_access_token.json")["requestContext"]["authorizer"]["jwt"][
    "claims"
]


@pytest.fixture
def handler():
    from hello.app import handler

    return handler


def test_hello_with_id_token_returns_greeting_region_and_username(aws, context, handler):
    response = handler(http_event("GET", "/hello"), context)

    assert response["statusCode"] == 200
    body = body_of(response)
    assert body["message"] == f"hello from {PRIMARY}"
    assert body["region"] == PRIMARY
    assert body["username"] == "demo"


def test_hello_with_access_token_claims_returns_username(aws, context, handler):
    claims = {**ACCESS_TOKEN_CLAIMS, "username": "alice"}

    response = handler(http_event("GET", "/hello", claims=claims), context)

    assert response["statusCode"] == 200
    assert ACCESS_TOKEN_CLAIMS["token_use"] == "access"
    assert body_of(response)["username"] == "alice"


def test_hello_returns_normal_image_from_static_bucket_as_data_uri(aws, context, handler):
    response = handler(http_event("GET", "/hello"), context)

    prefix, encoded = body_of(response)["image"].split(",", 1)
    assert prefix == "data:image/svg+xml;base64"
    assert base64.b64decode(encoded) == (ROOT / "static/assets/images/normal.svg").read_bytes()


def test_hello_is_not_cached(aws, context, handler):
    response = handler(http_event("GET", "/hello"), context)

    assert response["headers"]["Cache-Control"] == "no-store"


def test_hello_without_verified_claims_returns_401(aws, context, handler):
    response = handler(http_event("GET", "/hello", authorized=False), context)

    assert response["statusCode"] == 401
    assert body_of(response) == {"error": "missing verified token claims"}


def test_hello_returns_503_when_region_failed(aws, context, handler):
    set_chaos(PRIMARY, failed=True)

    response = handler(http_event("GET", "/hello"), context)

    assert response["statusCode"] == 503
    assert body_of(response)["region"] == PRIMARY


def test_hello_answers_an_unexpected_error_with_500_and_counts_it_as_handled(aws, context, handler, capsys):
    import boto3

    boto3.client("s3", region_name=PRIMARY).delete_object(Bucket=BUCKET, Key="assets/images/normal.svg")

    response = handler(http_event("GET", "/hello"), context)

    assert response["statusCode"] == 500
    assert body_of(response) == {"error": "internal error; please retry"}
    output = capsys.readouterr().out
    assert emitted_metrics(output) == {"HandledErrors": 1}
    assert emitted_dimensions(output, "HandledErrors") == [{"namespace": "active-active", "service": "test"}]
