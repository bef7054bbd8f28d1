"""The local cloud's moto server: a DynamoDB transaction writes all of its items or none, and a
cancelled one leaves no trace in the table's stream (moto's own backup is replaced by one that
saves only what the transaction touches)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from conftest import moto_server


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[tuple[object, object]]:
    with moto_server() as url:
        options = {
            "region_name": "us-east-1",
            "endpoint_url": url,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }
        client = boto3.client("dynamodb", **options)
        client.create_table(
            TableName="app",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client, boto3.client("dynamodbstreams", **options)


def _count(client, event_id: str) -> None:
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "app",
                    "Item": {"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": "app",
                    "Key": {"pk": {"S": "USER#1"}, "sk": {"S": "VIEWS#us-east-1"}},
                    "UpdateExpression": "ADD #views :one",
                    "ExpressionAttributeNames": {"#views": "views"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )


def _views(client) -> int:
    item = client.get_item(TableName="app", Key={"pk": {"S": "USER#1"}, "sk": {"S": "VIEWS#us-east-1"}})
    return int(item["Item"]["views"]["N"])


def _stream_records(client, streams) -> list[dict]:
    arn = client.describe_table(TableName="app")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def test_a_transaction_writes_every_item_and_streams_the_changes(dynamodb):
    client, streams = dynamodb
    before = len(_stream_records(client, streams))
    _count(client, "a")
    _count(client, "b")
    assert _views(client) == 2
    assert len(_stream_records(client, streams)) > before


def test_a_cancelled_transaction_leaves_the_items_and_the_stream_as_they_were(dynamodb):
    client, streams = dynamodb
    _count(client, "c")
    views, records = _views(client), len(_stream_records(client, streams))
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        _count(client, "c")
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons[0] == "ConditionalCheckFailed"
    assert _views(client) == views
    assert len(_stream_records(client, streams)) == records
    assert client.get_item(TableName="app", Key={"pk": {"S": "EVENT#c"}, "sk": {"S": "EVENT"}})["Item"]


def test_a_cancelled_transaction_removes_an_item_it_created(dynamodb):
    client, _ = dynamodb
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "app", "Item": {"pk": {"S": "NEW#1"}, "sk": {"S": "X"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "app",
                        "Key": {"pk": {"S": "MISSING"}, "sk": {"S": "X"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert "Item" not in client.get_item(TableName="app", Key={"pk": {"S": "NEW#1"}, "sk": {"S": "X"}})


def test_a_transaction_streams_one_record_per_item_it_writes(dynamodb):
    # A transaction changes each item once (no two actions may target one item), and each change
    # is one stream record; moto's update of an absent item streamed two INSERTs (the empty item,
    # then the update). https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
    client, streams = dynamodb
    client.delete_item(TableName="app", Key={"pk": {"S": "USER#1"}, "sk": {"S": "VIEWS#us-east-1"}})
    before = len(_stream_records(client, streams))
    _count(client, "first-view")
    records = _stream_records(client, streams)[before:]

    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "EVENT#first-view"),
        ("INSERT", "USER#1"),
    ]
    assert records[1]["dynamodb"]["NewImage"]["views"] == {"N": "1"}
    assert "OldImage" not in records[1]["dynamodb"]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in _stream_records(client, streams)]
    assert numbers == sorted(set(numbers))


def test_an_update_that_creates_its_item_streams_one_insert(dynamodb):
    client, streams = dynamodb
    before = len(_stream_records(client, streams))
    client.update_item(
        TableName="app",
        Key={"pk": {"S": "USER#2"}, "sk": {"S": "VIEWS#us-east-1"}},
        UpdateExpression="ADD #views :one",
        ExpressionAttributeNames={"#views": "views"},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    records = _stream_records(client, streams)[before:]

    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["NewImage"]["views"] == {"N": "1"}


def test_moto_lists_its_service_modules_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import moto.backends as moto_backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from localcloud import motoserver

    monkeypatch.setattr(moto_backends, "list_of_moto_modules", moto_backends.list_of_moto_modules)
    every = list(moto_backends.list_of_moto_modules())
    motoserver.modules_listed_once()

    def no_listing(path: str) -> list[str]:
        raise AssertionError(f"listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert list(moto_backends.list_of_moto_modules()) == every
    assert "dynamodb" in every
    dispatcher = DomainDispatcherApplication(create_backend_app)
    assert dispatcher.get_backend_for_host("dynamodb") == "dynamodb"


def test_moto_parses_each_event_path_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonpath_ng.ext
    from jsonpath_ng.ext.parser import ExtendedJsonPathParser
    from moto.events.utils import EventTemplateParser

    from localcloud import motoserver

    monkeypatch.setattr(jsonpath_ng.ext, "parse", jsonpath_ng.ext.parse)
    event = {
        "id": "1", "time": 1796169600.0, "detail-type": "PageViewed", "source": "app",
        "region": "us-east-1", "account": "123456789012", "resources": [], "detail": {"eventId": "e1"},
        "ingestion-time": 0,
    }  # fmt: skip
    plain = EventTemplateParser.parse(input_template="", input_paths_map={}, event=event)
    motoserver.event_paths_parsed_once()
    assert EventTemplateParser.parse(input_template="", input_paths_map={}, event=event) == plain

    def no_parser(*args: object, **kwargs: object) -> None:
        raise AssertionError("built a JSONPath parser again")

    monkeypatch.setattr(ExtendedJsonPathParser, "__init__", no_parser)
    assert EventTemplateParser.parse(input_template="", input_paths_map={}, event=event) == plain
    assert plain["detail"] == {"eventId": "e1"}


def test_shard_iterators_are_dropped_15_minutes_after_they_are_handed_out():
    from localcloud.motoserver import ExpiringIterators

    now = [1000.0]
    iterators = ExpiringIterators(clock=lambda: now[0])
    iterators["first"] = object()
    now[0] += 14 * 60
    iterators["second"] = object()
    assert set(iterators) == {"first", "second"}

    now[0] += 60  # the first is 15 minutes old
    iterators.expire()
    assert set(iterators) == {"second"}
    now[0] += 14 * 60
    iterators["third"] = object()  # handing one out drops the expired ones too
    assert set(iterators) == {"third"}


def test_get_records_with_an_iterator_moto_no_longer_holds_answers_expired_iterator(dynamodb):
    client, streams = dynamodb
    arn = client.describe_table(TableName="app")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    assert streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"] == []

    gone = iterator["ShardIterator"].rsplit("|", 1)[0] + "|not-handed-out"
    with pytest.raises(streams.exceptions.ExpiredIteratorException):
        streams.get_records(ShardIterator=gone)
