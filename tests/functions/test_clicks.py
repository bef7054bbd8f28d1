"""POST /click: one PageViewed event on the bus, the user's total across regions, injected failures."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import BUCKET, PRIMARY, ROOT, SECONDARY, TABLE, body_of, http_event, load_event, set_chaos
from webhook_helpers import emitted_dimensions, emitted_metrics

SUB = "6b1f1c7e-6d4a-4f4e-9a57-1b2b3c4d5e6f"  # the subject of the claims in events/http_api_request.json
CLICK_ID = "3f2b8c1e-0d6a-4c59-9a57-1b2b3c4d5e6f"  # the clickId in events/click_request_access_token.json


@pytest.fixture
def handler():
    from clicks.app import handler

    return handler


@pytest.fixture
def dice(monkeypatch: pytest.MonkeyPatch):
    """Decide the chaos dice: ``dice(0.3)`` makes the next rolls come up 0.3."""
    from clicks import logic

    def set_roll(value: float) -> None:
        monkeypatch.setattr(logic.dice, "random", lambda: value)

    return set_roll


@pytest.fixture
def bus(aws) -> Any:
    """The function's own EventBridge client, stubbed."""
    from shared import aws as shared_aws

    with Stubber(shared_aws.client("events")) as stub:
        yield stub


def click_event(body: Any = None, **options: Any) -> dict[str, Any]:
    return http_event("POST", "/click", body=body, **options)


def set_views(region: str, views: int, user_id: str = SUB) -> None:
    from shared import model

    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE,
        Item={
            model.PARTITION_KEY: {"S": model.user_key(user_id)},
            model.SORT_KEY: {"S": model.views_key(region)},
            "views": {"N": str(views)},
        },
    )


def image_bytes(data_uri: str) -> bytes:
    prefix, encoded = data_uri.split(",", 1)
    assert prefix == "data:image/svg+xml;base64"
    return base64.b64decode(encoded)


def test_first_click_returns_one_view_and_the_clicked_image(aws, context, handler):
    response = handler(click_event(), context)

    assert response["statusCode"] == 200
    body = body_of(response)
    assert body["views"] == 1
    assert body["message"] == "page viewed 1 time"
    assert body["region"] == PRIMARY
    assert image_bytes(body["image"]) == (ROOT / "static/assets/images/clicked.svg").read_bytes()
    assert uuid.UUID(body["eventId"]).version == 4


@pytest.mark.parametrize(("stored", "message"), [(0, "page viewed 1 time"), (1, "page viewed 2 times")])
def test_click_message_puts_the_noun_in_the_number_of_the_count(aws, context, handler, stored, message):
    set_views(PRIMARY, stored)

    assert body_of(handler(click_event(), context))["message"] == message


def test_click_puts_one_page_viewed_event_on_the_bus(aws, context, handler):
    response = handler(click_event(), context)

    [event] = aws.sqs_messages()
    assert event["source"] == "app.clicks"
    assert event["detail-type"] == "PageViewed"
    detail = event["detail"]
    assert set(detail) == {"eventId", "userId", "username", "region", "at"}
    assert detail["eventId"] == body_of(response)["eventId"]
    assert (detail["userId"], detail["username"], detail["region"]) == (SUB, "demo", PRIMARY)
    assert datetime.fromisoformat(detail["at"]).utcoffset().total_seconds() == 0


def test_click_event_is_one_the_writer_accepts(aws, context, handler):
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
    from writer.logic import parse_page_view

    handler(click_event(), context)

    [event] = aws.sqs_messages()
    assert parse_page_view(EventBridgeEvent(event)).user_id == SUB


def test_views_are_the_users_counters_of_every_region_plus_this_click(aws, context, handler):
    from shared import model

    set_views(PRIMARY, 3)
    set_views(SECONDARY, 4)
    set_views(PRIMARY, 100, user_id="someone-else")
    boto3.client("dynamodb", region_name=PRIMARY).put_item(
        TableName=TABLE,
        Item={model.PARTITION_KEY: {"S": model.user_key(SUB)}, model.SORT_KEY: {"S": "PROFILE"}},
    )

    body = body_of(handler(click_event(), context))

    assert body["views"] == 8
    assert body["message"] == "page viewed 8 times"


def test_click_id_from_base64_body_becomes_the_event_id(aws, context, handler):
    event = load_event("click_request_access_token.json")
    assert event["isBase64Encoded"] is True

    response = handler(event, context)

    assert response["statusCode"] == 200
    assert body_of(response)["eventId"] == CLICK_ID
    [published] = aws.sqs_messages()
    assert published["detail"]["eventId"] == CLICK_ID


def test_click_with_access_token_claims_names_the_user_in_the_event(aws, context, handler):
    handler(load_event("click_request_access_token.json"), context)

    [published] = aws.sqs_messages()
    assert published["detail"]["username"] == "demo"
    assert published["detail"]["userId"] == SUB


def test_retried_click_publishes_the_same_event_id(aws, context, handler):
    handler(click_event({"clickId": CLICK_ID}), context)
    handler(click_event({"clickId": CLICK_ID}), context)

    assert [event["detail"]["eventId"] for event in aws.sqs_messages()] == [CLICK_ID, CLICK_ID]


def test_upper_case_click_id_is_published_in_canonical_lower_case(aws, context, handler):
    response = handler(click_event({"clickId": CLICK_ID.upper()}), context)

    assert body_of(response)["eventId"] == CLICK_ID


def test_click_with_empty_json_object_gets_a_new_event_id(aws, context, handler):
    response = handler(click_event({}), context)

    assert response["statusCode"] == 200
    assert uuid.UUID(body_of(response)["eventId"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"clickId": "not-a-uuid"}, id="not-a-uuid"),
        pytest.param({"clickId": 42}, id="number"),
        pytest.param({"clickId": None}, id="null"),
        pytest.param({"clickId": CLICK_ID.replace("-", "")}, id="without-hyphens"),
        pytest.param({"clickId": "{" + CLICK_ID + "}"}, id="braces"),
        pytest.param({"clickId": "urn:uuid:" + CLICK_ID}, id="urn"),
        pytest.param('{"clickId": ', id="malformed-json"),
        pytest.param('"just a string"', id="not-an-object"),
    ],
)
def test_click_with_bad_body_returns_400_and_puts_nothing_on_the_bus(aws, context, handler, body):
    response = handler(click_event(body), context)

    assert response["statusCode"] == 400
    assert body_of(response)["error"]
    assert aws.sqs_messages() == []


def test_click_without_verified_claims_returns_401_and_puts_nothing_on_the_bus(aws, context, handler):
    response = handler(click_event(authorized=False), context)

    assert response["statusCode"] == 401
    assert aws.sqs_messages() == []


def test_injected_failure_returns_500_with_retry_error_image_and_region(aws, context, handler):
    set_chaos(PRIMARY, errorRate=1.0)

    response = handler(click_event(), context)

    assert response["statusCode"] == 500
    body = body_of(response)
    assert body["error"].startswith("injected failure: ")
    assert body["retry"] is True
    assert body["region"] == PRIMARY
    assert image_bytes(body["image"]) == (ROOT / "static/assets/images/error.svg").read_bytes()


def test_both_images_come_from_the_package_without_a_read_of_the_bucket(aws, context, handler, dice):
    s3 = boto3.client("s3", region_name=PRIMARY)
    for kind in ("clicked", "error"):
        s3.delete_object(Bucket=BUCKET, Key=f"assets/images/{kind}.svg")
    set_chaos(PRIMARY, errorRate=0.5)

    dice(0.9)
    clicked = handler(click_event(), context)
    dice(0.1)
    failed = handler(click_event(), context)

    assert (clicked["statusCode"], failed["statusCode"]) == (200, 500)
    assert image_bytes(body_of(clicked)["image"]) == (ROOT / "static/assets/images/clicked.svg").read_bytes()
    assert image_bytes(body_of(failed)["image"]) == (ROOT / "static/assets/images/error.svg").read_bytes()


def test_injected_failure_puts_nothing_on_the_bus(aws, context, handler):
    set_chaos(PRIMARY, errorRate=1.0)

    handler(click_event(), context)

    assert aws.sqs_messages() == []


def test_injected_failure_emits_one_injected_failures_and_one_handled_errors_metric(
    aws, context, handler, capsys
):
    set_chaos(PRIMARY, errorRate=1.0)

    handler(click_event(), context)

    output = capsys.readouterr().out
    assert emitted_metrics(output) == {"InjectedFailures": 1, "HandledErrors": 1}
    assert emitted_dimensions(output, "HandledErrors") == [{"namespace": "active-active", "service": "test"}]


def test_unexpected_exception_returns_500_and_emits_one_handled_errors_metric(
    aws, context, handler, capsys, monkeypatch
):
    from clicks.logic import Clicks

    def broken(self: Clicks, user_id: str) -> int:
        raise RuntimeError("the table went away")

    monkeypatch.setattr(Clicks, "views", broken)

    response = handler(click_event(), context)

    assert response["statusCode"] == 500
    assert body_of(response) == {"error": "internal error; please retry"}
    output = capsys.readouterr().out
    assert emitted_metrics(output) == {"HandledErrors": 1}
    assert emitted_dimensions(output, "HandledErrors") == [{"namespace": "active-active", "service": "test"}]
    assert aws.sqs_messages() == []


def test_successful_click_emits_no_handled_errors_metric(aws, context, handler, capsys):
    handler(click_event(), context)

    assert "HandledErrors" not in emitted_metrics(capsys.readouterr().out)


@pytest.mark.parametrize(("roll", "status"), [(0.49, 500), (0.5, 200), (0.93, 200)])
def test_injected_failure_happens_when_the_dice_fall_below_the_error_rate(
    aws, context, handler, dice, roll, status
):
    set_chaos(PRIMARY, errorRate=0.5)
    dice(roll)

    response = handler(click_event(), context)

    assert response["statusCode"] == status


def test_click_with_zero_error_rate_never_rolls_the_dice(aws, context, handler, dice):
    dice(0.0)

    response = handler(click_event(), context)

    assert response["statusCode"] == 200


def test_click_returns_502_with_retry_when_the_bus_rejects_the_event(aws, context, handler, bus):
    bus.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
    )

    response = handler(click_event(), context)

    assert response["statusCode"] == 502
    body = body_of(response)
    assert body["retry"] is True
    assert "InternalFailure" in body["error"]


def test_click_returns_503_with_retry_when_the_bus_is_unavailable(aws, context, handler, bus):
    bus.add_client_error("put_events", "ThrottlingException", http_status_code=400)

    response = handler(click_event(), context)

    assert response["statusCode"] == 503
    assert body_of(response)["retry"] is True


def test_click_returns_503_and_puts_nothing_on_the_bus_when_region_failed(aws, context, handler):
    set_chaos(PRIMARY, failed=True)

    response = handler(click_event(), context)

    assert response["statusCode"] == 503
    assert body_of(response)["region"] == PRIMARY
    assert aws.sqs_messages() == []
