"""End to end: the table's streams in a running local cloud. Global table replication between the
regions' tables (without loops) and the change archive (table stream to Kinesis to Firehose to
date-partitioned, gzipped objects in each region's archive bucket). Reads moto directly."""

from __future__ import annotations

import gzip
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from .cloud import http, user_id, wait_for

pytestmark = pytest.mark.e2e
EAST, WEST = "us-east-1", "us-west-2"
# A deadline, not the speed under test: on a loaded machine replication takes longer than its
# usual second, and how long it takes is the dashboard's replication latency widget's to show.
REPLICATION_TIMEOUT = 15.0


def resources(cloud, region: str, typ: str) -> list[dict[str, Any]]:
    graph = json.loads((cloud.state_dir / region / "graph.json").read_text())
    return [r for r in graph["resources"] if r["type"] == typ]


def archive_bucket(cloud, region: str) -> str:
    [delivery] = resources(cloud, region, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    return delivery["inputs"]["extendedS3Configuration"]["bucketArn"].split(":::", 1)[1]


def counter_key(user: str, counted_in: str) -> dict[str, Any]:
    return {"pk": {"S": f"USER#{user}"}, "sk": {"S": f"VIEWS#{counted_in}"}}


def views(cloud, region: str, user: str, counted_in: str) -> int:
    """The counter `counted_in`'s writer keeps for the user, as `region`'s table holds it."""
    item = cloud.aws("dynamodb", region).get_item(
        TableName=cloud.table_name(), Key=counter_key(user, counted_in), ConsistentRead=True
    )
    return int(item.get("Item", {}).get("views", {}).get("N", "0"))


def click(cloud, region: str, token: str, click_id: str | None = None) -> None:
    body = {"clickId": click_id} if click_id else {}
    reply = http("POST", f"{cloud.api(region)}/click", body, {"authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.body


def stored_click(cloud, region: str, token: str, click_id: str | None = None) -> int:
    """Clicks in `region` and waits for its writer to store the view; returns the new count."""
    user = user_id(token)
    before = views(cloud, region, user, region)
    click(cloud, region, token, click_id)
    after = wait_for(lambda: (n := views(cloud, region, user, region)) > before and n, timeout=15)
    assert after, f"the click in {region} was not stored within 15 s"
    return after


def stream_records(cloud, region: str) -> list[dict[str, Any]]:
    """Every record in the region's table stream, from the start."""
    streams = cloud.aws("dynamodbstreams", region)
    table = cloud.aws("dynamodb", region).describe_table(TableName=cloud.table_name())["Table"]
    description = streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]
    records: list[dict[str, Any]] = []
    for shard in description["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records += page["Records"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def counts_when_quiet(cloud) -> dict[str, int]:
    """Each region's stream length once it has stopped growing for a second."""

    def quiet() -> dict[str, int] | None:
        first = {region: len(stream_records(cloud, region)) for region in (EAST, WEST)}
        time.sleep(1.0)
        second = {region: len(stream_records(cloud, region)) for region in (EAST, WEST)}
        return second if first == second else None

    counts = wait_for(quiet, timeout=20, interval=0)
    assert counts, "the table streams kept growing for 20 s"
    return counts


# Global table replication


@pytest.mark.parametrize(("origin", "replica"), [(EAST, WEST), (WEST, EAST)])
def test_views_counted_in_one_region_reach_the_other_regions_table(cloud, origin, replica):
    token = cloud.token(user=cloud.new_user())
    user = user_id(token)
    count = stored_click(cloud, origin, token)
    replicated = wait_for(lambda: views(cloud, replica, user, origin) == count, timeout=REPLICATION_TIMEOUT)
    assert replicated, (
        f"{origin}'s counter is {count} there but {views(cloud, replica, user, origin)} in {replica} "
        f"after {REPLICATION_TIMEOUT} s"
    )


def test_replication_does_not_loop_one_change_is_one_record_in_each_regions_stream(cloud):
    token = cloud.token(user=cloud.new_user())
    user = user_id(token)
    counts_when_quiet(cloud)
    key = counter_key(user, EAST)

    def for_counter(region: str) -> int:
        return sum(1 for r in stream_records(cloud, region) if r["dynamodb"]["Keys"] == key)

    before = {region: for_counter(region) for region in (EAST, WEST)}
    count = stored_click(cloud, EAST, token)
    assert wait_for(lambda: views(cloud, WEST, user, EAST) == count, timeout=REPLICATION_TIMEOUT)
    settled = counts_when_quiet(cloud)
    time.sleep(1.0)
    assert {region: len(stream_records(cloud, region)) for region in (EAST, WEST)} == settled
    # The writer's update in us-east-1, the replicator's put in us-west-2, and nothing bounced back.
    assert {region: for_counter(region) - before[region] for region in (EAST, WEST)} == {EAST: 1, WEST: 1}


def test_replication_goes_on_after_a_duplicate_click_is_refused(cloud):
    # The writer's idempotency guard cancels the second transaction; moto rolls it back by
    # swapping in a copy of the table (and of its stream), which a stream reader must survive.
    # The cancelled update is in the discarded stream with the count the next click makes: two
    # clicks after it tell a reader stuck there from one that is not.
    token = cloud.token(user=cloud.new_user())
    user = user_id(token)
    click_id = str(uuid.uuid4())
    stored_click(cloud, EAST, token, click_id)
    click(cloud, EAST, token, click_id)
    refused = wait_for(lambda: cloud.logged(EAST, "writer", "duplicate", click_id), timeout=15, interval=0.5)
    assert refused, "the writer did not refuse the duplicate within 15 s"
    stored_click(cloud, EAST, token)
    count = stored_click(cloud, EAST, token)
    assert wait_for(lambda: views(cloud, WEST, user, EAST) == count, timeout=REPLICATION_TIMEOUT), (
        f"{EAST}'s counter is {count} but {views(cloud, WEST, user, EAST)} in {WEST}"
    )


def test_a_click_in_the_other_region_counts_views_made_in_the_first(cloud):
    token = cloud.token(user=cloud.new_user())
    user = user_id(token)
    count = stored_click(cloud, EAST, token)
    assert wait_for(lambda: views(cloud, WEST, user, EAST) == count, timeout=REPLICATION_TIMEOUT)
    total = count + views(cloud, WEST, user, WEST)
    reply = http("POST", f"{cloud.api(WEST)}/click", {}, {"authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.body
    assert reply.json()["views"] == total + 1


# The change archive


PARTITION = re.compile(
    r"changes/region=(?P<region>[a-z0-9-]+)/year=(?P<year>\d{4})/month=(?P<month>\d{2})/"
    r"day=(?P<day>\d{2})/hour=(?P<hour>\d{2})/(?P<name>.+)-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.gz"
)


def archived(cloud, region: str, seen: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Records in the region's archive objects not read before, with each object's key."""
    s3 = cloud.aws("s3", region)
    bucket = archive_bucket(cloud, region)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="changes/"):
        for obj in page.get("Contents", []):
            if obj["Key"] in seen:
                continue
            seen.add(obj["Key"])
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            found += [(obj["Key"], json.loads(line)) for line in body.decode().splitlines()]
    return found


def archived_change(cloud, region: str, key: dict[str, Any], views_n: int) -> tuple[str, dict[str, Any]]:
    """Waits for the archive record of the counter reaching `views_n` in `region`'s bucket."""
    seen: set[str] = set()
    matches: list[tuple[str, dict[str, Any]]] = []

    def find() -> bool:
        matches.extend(
            (object_key, record)
            for object_key, record in archived(cloud, region, seen)
            if record["dynamodb"]["Keys"] == key
            and record["dynamodb"].get("NewImage", {}).get("views") == {"N": str(views_n)}
        )
        return bool(matches)

    assert wait_for(find, timeout=20, interval=0.5), f"no archived change in {region} within 20 s"
    return matches[0]


def test_a_click_is_archived_under_date_partitions_in_its_regions_bucket(cloud):
    token = cloud.token(user=cloud.new_user())
    user = user_id(token)
    started = datetime.now(UTC)
    count = stored_click(cloud, EAST, token)
    object_key, record = archived_change(cloud, EAST, counter_key(user, EAST), count)
    finished = datetime.now(UTC)

    match = PARTITION.fullmatch(object_key)
    assert match, object_key
    assert match["region"] == EAST
    hour = f"{match['year']}-{match['month']}-{match['day']}T{match['hour']}"
    assert hour in {f"{started:%Y-%m-%dT%H}", f"{finished:%Y-%m-%dT%H}"}, object_key
    [delivery] = resources(cloud, EAST, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    assert match["name"] == delivery["outputs"]["name"]

    assert record["awsRegion"] == EAST
    assert record["tableName"] == cloud.table_name()
    assert record["eventName"] in {"INSERT", "MODIFY"}
    assert record["eventSource"] == "aws:dynamodb"
    assert record["recordFormat"] == "application/json"
    assert record["userIdentity"] is None
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["ApproximateCreationDateTime"] >= int(started.timestamp() * 1000) - 1000
    assert record["dynamodb"]["SizeBytes"] > 0


def test_the_other_regions_archive_holds_the_replicated_change(cloud):
    token = cloud.token(user=cloud.new_user())
    user = user_id(token)
    count = stored_click(cloud, EAST, token)
    object_key, record = archived_change(cloud, WEST, counter_key(user, EAST), count)
    assert object_key.startswith(f"changes/region={WEST}/")
    assert record["awsRegion"] == WEST
