"""GET /config: this region, every region's API and the Cognito ids, even while the region is failed."""

from __future__ import annotations

import json

import boto3
import pytest
from conftest import APP, PRIMARY, SECONDARY, body_of, http_event, set_chaos


@pytest.fixture
def handler():
    from discovery.app import handler

    return handler


def config_event() -> dict:
    return http_event("GET", "/config", authorized=False)


def test_config_lists_every_registered_region_and_the_cognito_ids(aws, context, handler):
    response = handler(config_event(), context)

    assert response["statusCode"] == 200
    assert body_of(response) == {
        "region": PRIMARY,
        "primaryRegion": PRIMARY,
        "regions": [
            {"region": PRIMARY, "api": f"https://api-{PRIMARY}.example.com"},
            {"region": SECONDARY, "api": f"https://api-{SECONDARY}.example.com"},
        ],
        "cognito": {"region": PRIMARY, "userPoolId": aws.user_pool_id, "clientId": aws.client_id},
    }


def test_config_in_secondary_region_names_itself_and_the_primary(aws, context, handler, monkeypatch):
    monkeypatch.setenv("AWS_REGION", SECONDARY)

    body = body_of(handler(config_event(), context))

    assert body["region"] == SECONDARY
    assert body["primaryRegion"] == PRIMARY
    assert body["cognito"]["region"] == PRIMARY


def test_config_includes_a_region_registered_later(aws, context, handler):
    boto3.client("ssm", region_name=PRIMARY).put_parameter(
        Name=f"/{APP}/regions/eu-west-1",
        Type="String",
        Value=json.dumps({"api": "https://api-eu.example.com"}),
    )

    body = body_of(handler(config_event(), context))

    assert body["regions"][0] == {"region": "eu-west-1", "api": "https://api-eu.example.com"}
    assert [entry["region"] for entry in body["regions"]] == ["eu-west-1", PRIMARY, SECONDARY]


def test_config_is_cached_briefly(aws, context, handler):
    response = handler(config_event(), context)

    assert response["headers"]["Cache-Control"] == "public, max-age=30"


def test_config_answers_while_the_region_is_failed(aws, context, handler):
    set_chaos(PRIMARY, failed=True)

    response = handler(config_event(), context)

    assert response["statusCode"] == 200
    assert body_of(response)["region"] == PRIMARY
