"""The writer: each page view stored exactly once, per-region counters that sum across regions."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import PRIMARY, SECONDARY, TABLE, load_event, set_chaos
from webhook_helpers import RecordedMetrics, capture_logs, emitted_metrics

USER_ID = "5b1e7c0a-3f4d-4e21-9c1b-8a2f6d3e4b10"


@pytest.fixture
def handler():
    from writer.app import handler

    return handler


def page_viewed(event_id: str | None = None, **detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("eventbridge_page_viewed.json"))
    event["detail"].update({"eventId": event_id or str(uuid.uuid4()), **detail})
    return event


def table_items(region: str = PRIMARY) -> list[dict[str, Any]]:
    return boto3.client("dynamodb", region_name=region).scan(TableName=TABLE)["Items"]


def counters(region: str, user_id: str = USER_ID) -> dict[str, int]:
    """The user's counter items in one region's table, by sort key."""
    from shared import model

    items = boto3.client("dynamodb", region_name=region).query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :views)",
        ExpressionAttributeValues={
            ":pk": {"S": model.user_key(user_id)},
            ":views": {"S": model.VIEWS_PREFIX},
        },
    )["Items"]
    return {item["sk"]["S"]: int(item["views"]["N"]) for item in items}


def in_region(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """Run the next invocations as the function deployed in ``region``."""
    from shared import aws, parameters

    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)  # Lambda sets both
    aws.reset()
    parameters.clear_caches()


def test_page_view_is_stored_with_guard_and_this_regions_counter(aws, context, handler, capsys):
    from shared import model

    event = page_viewed()
    event_id = event["detail"]["eventId"]

    result = handler(event, context)

    assert result == {"eventId": event_id, "status": "stored", "region": PRIMARY}
    assert counters(PRIMARY) == {model.views_key(PRIMARY): 1}
    guard = boto3.client("dynamodb", region_name=PRIMARY).get_item(
        TableName=TABLE, Key={"pk": {"S": model.event_key(event_id)}, "sk": {"S": model.EVENT_SORT_KEY}}
    )["Item"]
    assert guard["userId"] == {"S": USER_ID}
    assert guard["region"] == {"S": PRIMARY}
    assert guard["at"] == {"S": event["detail"]["at"]}
    week = model.EVENT_GUARD_TTL.total_seconds()
    assert abs(int(guard[model.TTL_ATTRIBUTE]["N"]) - (time.time() + week)) < 60
    assert emitted_metrics(capsys.readouterr().out) == {"PageViewsStored": 1}


def test_same_event_delivered_three_times_counts_once(aws, context, handler, capsys):
    from shared import model

    event = page_viewed()

    statuses = [handler(copy.deepcopy(event), context)["status"] for _ in range(3)]

    assert statuses == ["stored", "duplicate", "duplicate"]
    assert counters(PRIMARY) == {model.views_key(PRIMARY): 1}
    assert len(table_items(PRIMARY)) == 2  # the guard and the counter, nothing more
    assert emitted_metrics(capsys.readouterr().out) == {"PageViewsStored": 1, "DuplicateEvents": 2}


def test_interleaved_writes_from_two_regions_sum_correctly(aws, context, handler, monkeypatch):
    from shared import model

    east = [page_viewed(region=PRIMARY) for _ in range(3)]
    west = [page_viewed(region=SECONDARY) for _ in range(2)]
    # Each region's bus delivers its own clicks, some twice, interleaved with the other region's.
    deliveries = [
        (PRIMARY, east[0]),
        (SECONDARY, west[0]),
        (PRIMARY, east[1]),
        (SECONDARY, west[0]),
        (SECONDARY, west[1]),
        (PRIMARY, east[0]),
        (PRIMARY, east[2]),
        (SECONDARY, west[1]),
    ]
    for region, event in deliveries:
        in_region(monkeypatch, region)
        handler(copy.deepcopy(event), context)

    assert counters(PRIMARY) == {model.views_key(PRIMARY): 3}
    assert counters(SECONDARY) == {model.views_key(SECONDARY): 2}
    # The global table replicates every item to every region; no item is written by two regions,
    # so last-writer-wins has nothing to overwrite and the sum on read is exact everywhere.
    for source, target in ((SECONDARY, PRIMARY), (PRIMARY, SECONDARY)):
        for item in table_items(source):
            boto3.client("dynamodb", region_name=target).put_item(TableName=TABLE, Item=item)
    for region in (PRIMARY, SECONDARY):
        assert sum(counters(region).values()) == len(east) + len(west)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"detail-type": "PageClicked"}, "detail-type"),
        ({"detail": ["not", "an", "object"]}, "detail must be a JSON object"),
        ({"detail": {"eventId": "not-a-uuid-<script>"}}, "'eventId' must be a UUID string"),
        ({"detail": {"eventId": None}}, "'eventId' must be a non-empty string"),
        ({"detail": {"userId": ""}}, "'userId' must be a non-empty string"),
        ({"detail": {"userId": "u" * 129}}, "'userId' must be at most 128 characters"),
        ({"detail": {"username": 42}}, "'username' must be a non-empty string"),
        ({"detail": {"region": "mars-north-1; drop"}}, "'region' must be an AWS region name"),
        ({"detail": {"at": "2026-11-25T10:00:00"}}, "'at' must be an ISO-8601 time with a time zone"),
        ({"detail": {"at": "yesterday"}}, "'at' must be an ISO-8601 time with a time zone"),
    ],
)
def test_invalid_writer_event_raises_and_writes_nothing(
    aws, context, handler, capsys, monkeypatch, change, reason
):
    from writer.app import logger
    from writer.logic import InvalidPageView

    capture_logs(monkeypatch, logger)

    event = page_viewed()
    if isinstance(change.get("detail"), dict):
        event["detail"].update(change["detail"])
    else:
        event.update(change)

    with pytest.raises(InvalidPageView, match=reason) as raised:
        handler(event, context)

    assert isinstance(raised.value, ValueError)
    assert table_items(PRIMARY) == []
    logs = capsys.readouterr().out
    assert "rejected an invalid page view" in logs
    assert "<script>" not in logs
    assert "drop" not in logs


def test_event_without_detail_raises_invalid_page_view(aws, context, handler):
    from writer.logic import InvalidPageView

    with pytest.raises(InvalidPageView, match="detail-type"):
        handler({"id": "direct-invoke"}, context)

    assert table_items(PRIMARY) == []


def test_writer_failure_switch_raises_before_writing(aws, context, handler):
    from writer.logic import InjectedWriterFailure

    set_chaos(PRIMARY, writerFailureRate=1.0)

    with pytest.raises(InjectedWriterFailure, match="injected writer failure"):
        handler(page_viewed(), context)

    assert table_items(PRIMARY) == []


def test_writer_failure_switch_off_by_default_stores(aws, context, handler):
    set_chaos(PRIMARY)

    assert handler(page_viewed(), context)["status"] == "stored"


@pytest.mark.parametrize(("roll", "fails"), [(0.49, True), (0.5, False), (0.99, False)])
def test_writer_failure_switch_fails_when_the_dice_fall_below_the_rate(aws, roll, fails):
    from writer.logic import InjectedWriterFailure, Writer

    metrics = RecordedMetrics()
    writer = Writer(
        dynamodb=boto3.client("dynamodb", region_name=PRIMARY),
        table_name=TABLE,
        region=PRIMARY,
        metrics=metrics,
        failure_rate=lambda: 0.5,
        chance=lambda: roll,
    )
    event = page_viewed()

    if fails:
        with pytest.raises(InjectedWriterFailure):
            writer.handle(event)
        assert table_items(PRIMARY) == []
        assert metrics.totals == {}
    else:
        assert writer.handle(event)["status"] == "stored"
        assert metrics.totals == {"PageViewsStored": 1}


@pytest.mark.parametrize(
    "reasons",
    [
        [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}],
        [{"Code": "ValidationError", "Message": "Item size has exceeded the maximum allowed size"}],
    ],
)
def test_transaction_cancelled_for_another_reason_is_raised_for_retry(reasons):
    from writer.logic import Writer

    dynamodb = boto3.client("dynamodb", region_name=PRIMARY)
    metrics = RecordedMetrics()
    writer = Writer(
        dynamodb=dynamodb, table_name=TABLE, region=PRIMARY, metrics=metrics, failure_rate=lambda: 0
    )

    with Stubber(dynamodb) as stub:
        stub.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            service_message="Transaction cancelled",
            modeled_fields={"CancellationReasons": reasons},
        )
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
            writer.handle(page_viewed())

    assert metrics.totals == {}


def _writer(region: str, **options: Any) -> Any:
    from writer.logic import Writer

    return Writer(
        dynamodb=boto3.client("dynamodb", region_name=region),
        table_name=TABLE,
        region=region,
        metrics=RecordedMetrics(),
        failure_rate=lambda: 0,
        **options,
    )


def _replicas(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def _ago(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def test_a_late_event_already_stored_in_another_region_is_not_counted_again(aws):
    from shared import model

    # us-east-1 went dark with the click published and its answer lost; the page resent it to
    # us-west-2, which stored it. The held event reaches us-east-1's writer after the restore,
    # before us-west-2's guard has replicated.
    click = page_viewed(at=_ago(30))
    assert _writer(SECONDARY).handle(copy.deepcopy(click))["status"] == "stored"
    east = _writer(PRIMARY, other_regions=(SECONDARY,), replica=_replicas)

    assert east.handle(copy.deepcopy(click))["status"] == "duplicate"
    assert counters(PRIMARY) == {}
    assert counters(SECONDARY) == {model.views_key(SECONDARY): 1}
    assert east.metrics.totals == {"DuplicateEvents": 1}


def test_a_late_event_no_other_replica_holds_is_counted(aws):
    from shared import model

    east = _writer(PRIMARY, other_regions=(SECONDARY,), replica=_replicas)

    assert east.handle(page_viewed(at=_ago(30)))["status"] == "stored"
    assert counters(PRIMARY) == {model.views_key(PRIMARY): 1}


def test_a_late_event_is_counted_when_another_replica_does_not_answer(aws, caplog):
    from botocore.exceptions import EndpointConnectionError
    from shared import model

    def unreachable(region: str) -> Any:
        raise EndpointConnectionError(endpoint_url=f"https://dynamodb.{region}.amazonaws.com")

    east = _writer(PRIMARY, other_regions=(SECONDARY,), replica=unreachable)

    assert east.handle(page_viewed(at=_ago(30)))["status"] == "stored"
    assert counters(PRIMARY) == {model.views_key(PRIMARY): 1}
    assert "another replica did not answer; counting" in caplog.text


def test_an_event_on_time_reads_no_other_replica(aws):
    def never(region: str) -> Any:
        raise AssertionError(f"read the replica in {region}")

    east = _writer(PRIMARY, other_regions=(SECONDARY,), replica=never)

    assert east.handle(page_viewed(at=_ago(0.2)))["status"] == "stored"


def test_the_other_replicas_come_from_the_environment(aws, monkeypatch):
    from writer.logic import Writer

    monkeypatch.setenv("OTHER_REPLICA_REGIONS", f" {SECONDARY}, eu-west-1 ,")

    assert Writer.from_environment(RecordedMetrics()).other_regions == (SECONDARY, "eu-west-1")
