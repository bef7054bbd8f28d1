"""The local cloud's stream plumbing without AWS: Firehose prefixes and objects, the record format
DynamoDB writes to Kinesis, and global table replication's decisions (last writer wins, no loops)."""

from __future__ import annotations

import gzip
import itertools
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from localcloud.settings import time_scale
from localcloud.streams.firehose import (
    DeliveryConfig,
    FirehoseDelivery,
    expand_prefix,
    object_body,
    object_key,
)
from localcloud.streams.kinesis import kinesis_record
from localcloud.streams.replication import ReplicationLog, Version, fingerprint, global_tables
from localcloud.streams.shards import TableStreamReader

ARCHIVE_PREFIX = (
    "changes/region=us-east-1/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    "hour=!{timestamp:HH}/"
)
AT = datetime(2026, 3, 7, 5, 9, 2, tzinfo=UTC)
EAST, WEST = "us-east-1", "us-west-2"
KEYS = {"pk": {"S": "USER#u1"}, "sk": {"S": "VIEWS#us-east-1"}}


# Firehose prefixes and objects


def test_archive_prefix_expands_to_utc_date_partitions():
    assert expand_prefix(ARCHIVE_PREFIX, AT) == "changes/region=us-east-1/year=2026/month=03/day=07/hour=05/"


def test_prefix_timestamps_are_evaluated_in_utc():
    local = datetime.fromisoformat("2026-03-07T01:09:02-04:00")
    assert expand_prefix("!{timestamp:yyyy-MM-dd-HH}/", local) == "2026-03-07-05/"


def test_prefix_without_expressions_gets_the_default_hourly_partition():
    assert expand_prefix("changes/", AT) == "changes/2026/03/07/05/"


def test_error_output_prefix_names_the_error_type():
    prefix = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/"
    assert expand_prefix(prefix, AT, "processing-failed") == "errors/processing-failed/year=2026/"


def test_unsupported_prefix_expression_is_refused():
    with pytest.raises(ValueError, match="partitionKeyFromQuery"):
        expand_prefix("x/!{partitionKeyFromQuery:id}/", AT)


def test_object_key_is_named_like_firehose_names_objects():
    key = object_key(ARCHIVE_PREFIX, "archive-delivery-1a2b", AT, "GZIP")
    assert re.fullmatch(
        r"changes/region=us-east-1/year=2026/month=03/day=07/hour=05/"
        r"archive-delivery-1a2b-1-2026-03-07-05-09-02-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.gz",
        key,
    ), key


def test_uncompressed_object_key_has_no_gz_suffix():
    assert not object_key("p/", "d", AT, "UNCOMPRESSED").endswith(".gz")


def test_object_body_is_gzipped_newline_delimited_records():
    body = object_body([b'{"a":1}', b'{"b":2}\n'], "GZIP")
    assert gzip.decompress(body) == b'{"a":1}\n{"b":2}\n'


# The record format DynamoDB writes to Kinesis


def stream_record(name: str, keys: dict, new: dict | None, old: dict | None = None, **extra: Any) -> dict:
    stream: dict[str, Any] = {
        "ApproximateCreationDateTime": extra.get("at", AT),
        "Keys": keys,
        "SequenceNumber": str(extra.get("sequence", 1)),
        "SizeBytes": 42,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        stream["NewImage"] = new
    if old is not None:
        stream["OldImage"] = old
    return {"eventID": "e1", "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": stream}


def test_kinesis_record_has_dynamodbs_kinesis_format():
    new = {**KEYS, "views": {"N": "2"}}
    old = {**KEYS, "views": {"N": "1"}}
    record = kinesis_record(stream_record("MODIFY", KEYS, new, old), WEST, "data-table")
    assert record == {
        "awsRegion": WEST,
        "eventID": "e1",
        "eventName": "MODIFY",
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": "data-table",
        "dynamodb": {
            "ApproximateCreationDateTime": int(AT.timestamp() * 1000),
            "Keys": KEYS,
            "NewImage": new,
            "OldImage": old,
            "SizeBytes": 42,
        },
        "eventSource": "aws:dynamodb",
    }


def test_kinesis_record_of_a_remove_has_no_new_image():
    record = kinesis_record(stream_record("REMOVE", KEYS, None, {**KEYS}), EAST, "t")
    assert "NewImage" not in record["dynamodb"]
    assert record["dynamodb"]["OldImage"] == KEYS


# Fingerprints


def test_fingerprint_ignores_attribute_order():
    image = {"views": {"N": "1"}, **KEYS}
    reordered = dict(reversed(list(image.items())))
    assert fingerprint(WEST, "t", KEYS, image) == fingerprint(WEST, "t", KEYS, reordered)


def test_fingerprint_differs_by_region_and_by_image():
    image = {**KEYS, "views": {"N": "1"}}
    base = fingerprint(WEST, "t", KEYS, image)
    assert base != fingerprint(EAST, "t", KEYS, image)
    assert base != fingerprint(WEST, "t", KEYS, {**KEYS, "views": {"N": "2"}})
    assert base != fingerprint(WEST, "t", KEYS, None)


def test_fingerprint_takes_binary_attributes():
    assert fingerprint(WEST, "t", KEYS, {**KEYS, "b": {"B": b"\x00\x01"}})


# Replication decisions


def test_a_change_is_written_to_every_other_replica():
    log = ReplicationLog({"t": [EAST, WEST, "eu-west-1"]})
    image = {**KEYS, "views": {"N": "1"}}
    writes = log.plan(EAST, "t", stream_record("INSERT", KEYS, image))
    assert sorted(w.region for w in writes) == ["eu-west-1", WEST]
    assert all(w.image == image and w.keys == KEYS for w in writes)


def test_the_replicators_own_write_is_not_sent_back():
    log = ReplicationLog({"t": [EAST, WEST]})
    image = {**KEYS, "views": {"N": "1"}}
    [write] = log.plan(EAST, "t", stream_record("INSERT", KEYS, image, sequence=1))
    echo = stream_record("INSERT", KEYS, image, sequence=7, at=datetime(2026, 3, 7, 5, 9, 3, tzinfo=UTC))
    assert log.plan(write.region, "t", echo) == []


def test_a_later_local_change_with_the_same_image_is_replicated_once_the_echo_is_consumed():
    log = ReplicationLog({"t": [EAST, WEST]})
    image = {**KEYS, "views": {"N": "1"}}
    log.plan(EAST, "t", stream_record("INSERT", KEYS, image, sequence=1))
    assert log.plan(WEST, "t", stream_record("INSERT", KEYS, image, sequence=2)) == []
    later = datetime(2026, 3, 7, 6, tzinfo=UTC)
    [write] = log.plan(WEST, "t", stream_record("MODIFY", KEYS, image, sequence=3, at=later))
    assert write.region == EAST


def test_a_delete_that_removed_nothing_does_not_swallow_a_later_real_delete():
    log = ReplicationLog({"t": [EAST, WEST]})
    [write] = log.plan(EAST, "t", stream_record("REMOVE", KEYS, None, {**KEYS}))
    log.cancel(write)  # the item was not in us-west-2: no stream record comes back
    later = datetime(2026, 3, 7, 6, tzinfo=UTC)
    [again] = log.plan(WEST, "t", stream_record("REMOVE", KEYS, None, {**KEYS}, at=later, sequence=9))
    assert again.region == EAST and again.image is None


def test_tables_that_are_not_global_are_not_replicated():
    log = ReplicationLog({"t": [EAST, WEST]})
    assert log.plan(EAST, "other", stream_record("INSERT", KEYS, {**KEYS})) == []


class Replicas:
    """Two or more regions' tables and streams in memory, driven by a ReplicationLog."""

    def __init__(self, regions: list[str]) -> None:
        self.log = ReplicationLog({"t": regions})
        self.tables: dict[str, dict[str, dict]] = {region: {} for region in regions}
        self.streams: dict[str, list[dict]] = {region: [] for region in regions}
        self.read: dict[str, int] = dict.fromkeys(regions, 0)
        self.clock = itertools.count(1)
        self.sequence = itertools.count(1)

    def write(self, region: str, keys: dict, image: dict | None) -> bool:
        table, key = self.tables[region], json.dumps(keys, sort_keys=True)
        old = table.get(key)
        if image is None and old is None:
            return False
        if image is None:
            del table[key]
        else:
            table[key] = image
        name = "REMOVE" if image is None else ("INSERT" if old is None else "MODIFY")
        at = datetime.fromtimestamp(1_800_000_000 + next(self.clock) / 1000, UTC)
        self.streams[region].append(
            stream_record(name, keys, image, old, at=at, sequence=next(self.sequence))
        )
        return True

    def poll(self, region: str) -> list:
        """Reads the region's new stream records; returns the writes planned (not yet applied)."""
        records = self.streams[region][self.read[region] :]
        self.read[region] = len(self.streams[region])
        return [w for record in records for w in self.log.plan(region, "t", record)]

    def apply(self, writes: list) -> None:
        for write in writes:
            if not self.write(write.region, write.keys, write.image):
                self.log.cancel(write)

    def settle(self, order: list[str]) -> int:
        """Polls and applies until no stream has anything new; returns the rounds it took."""
        for rounds in range(1, 50):
            writes = [w for region in order for w in self.poll(region)]
            if not writes and all(self.read[r] == len(self.streams[r]) for r in order):
                return rounds
            self.apply(writes)
        raise AssertionError("replication did not settle: it loops")


def test_replication_settles_with_one_write_per_other_replica():
    world = Replicas([EAST, WEST])
    world.write(EAST, KEYS, {**KEYS, "views": {"N": "1"}})
    world.settle([EAST, WEST])
    assert world.tables[EAST] == world.tables[WEST]
    assert [len(world.streams[EAST]), len(world.streams[WEST])] == [1, 1]


def test_concurrent_writes_converge_on_the_last_writer_in_either_order():
    for order in ([EAST, WEST], [WEST, EAST]):
        world = Replicas([EAST, WEST])
        world.write(EAST, KEYS, {**KEYS, "v": {"S": "east"}})
        world.write(WEST, KEYS, {**KEYS, "v": {"S": "west"}})  # later: wins
        world.settle(order)
        assert world.tables[EAST] == world.tables[WEST], order
        assert next(iter(world.tables[EAST].values()))["v"] == {"S": "west"}, order


def test_a_replicated_write_landing_after_a_newer_local_write_is_repaired():
    world = Replicas([EAST, WEST])
    world.write(EAST, KEYS, {**KEYS, "v": {"S": "old"}})
    late = world.poll(EAST)  # planned for us-west-2 but not applied yet
    world.write(WEST, KEYS, {**KEYS, "v": {"S": "new"}})
    world.apply(world.poll(WEST))
    world.apply(late)  # lands last in us-west-2, over the newer item
    world.settle([EAST, WEST])
    assert world.tables[EAST] == world.tables[WEST]
    assert next(iter(world.tables[WEST].values()))["v"] == {"S": "new"}


def test_a_delete_replicates_and_settles():
    world = Replicas([EAST, WEST, "eu-west-1"])
    world.write(WEST, KEYS, {**KEYS})
    world.settle([EAST, WEST, "eu-west-1"])
    world.write(EAST, KEYS, None)
    world.settle([EAST, WEST, "eu-west-1"])
    assert world.tables == {EAST: {}, WEST: {}, "eu-west-1": {}}


def test_versions_order_by_time_then_region_then_sequence():
    assert Version(1.0, WEST, 1) > Version(1.0, EAST, 9) > Version(0.5, WEST, 99)


# Reading a table stream the way moto keeps it


class MotoLikeTableStream:
    """dynamodbstreams as moto behaves: an iterator stays with the stream it was made on, and a
    cancelled transaction swaps in a copy of the stream made before it."""

    class exceptions:
        ExpiredIteratorException = type("ExpiredIteratorException", (Exception,), {})

    START = 1000

    def __init__(self) -> None:
        self.live: list[dict] = []
        self.iterators: dict[str, tuple[list[dict], int]] = {}
        self.after_read: Callable[[], None] | None = None

    def write(self, name: str) -> None:
        sequence = str(self.START + len(self.live))
        self.live.append(
            {"eventID": uuid.uuid4().hex, "name": name, "dynamodb": {"SequenceNumber": sequence}}
        )

    def cancelled_transaction(self, name: str) -> None:
        before = list(self.live)
        self.write(name)  # lands in the stream that is about to be discarded
        self.live = before

    def describe_stream(self, StreamArn: str) -> dict:
        shard = {"ShardId": "shard-1", "SequenceNumberRange": {"StartingSequenceNumber": str(self.START)}}
        return {"StreamDescription": {"Shards": [shard]}}

    def _token(self, stream: list[dict], position: int) -> str:
        token = str(len(self.iterators))
        self.iterators[token] = (stream, position)
        return token

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None) -> dict:
        position = {
            "TRIM_HORIZON": lambda: self.START,
            "LATEST": lambda: self.START + len(self.live),
            "AT_SEQUENCE_NUMBER": lambda: int(SequenceNumber),
            "AFTER_SEQUENCE_NUMBER": lambda: int(SequenceNumber) + 1,
        }[ShardIteratorType]()
        return {"ShardIterator": self._token(self.live, position)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        stream, position = self.iterators[ShardIterator]
        records = stream[position - self.START : position - self.START + Limit]
        if self.after_read:
            hook, self.after_read = self.after_read, None
            hook()
        return {"Records": records, "NextShardIterator": self._token(stream, position + len(records))}


def names(records: list[dict]) -> list[str]:
    return [record["name"] for record in records]


def test_table_stream_reader_starts_at_the_end_of_the_stream():
    stream = MotoLikeTableStream()
    stream.write("before")
    reader = TableStreamReader(stream, {"StreamArn": "arn"})
    reader.open()
    stream.write("after")
    assert names(reader.read()) == ["after"]
    assert reader.read() == []


def test_table_stream_reader_follows_the_live_stream_after_a_cancelled_transaction():
    stream = MotoLikeTableStream()
    reader = TableStreamReader(stream, {"StreamArn": "arn"})
    reader.open()
    stream.write("first")
    assert names(reader.read()) == ["first"]
    stream.cancelled_transaction("cancelled")
    stream.write("second")
    stream.write("third")
    assert names(reader.read()) == ["second", "third"]


def test_table_stream_reader_drops_writes_read_before_their_transaction_was_rolled_back():
    stream = MotoLikeTableStream()
    reader = TableStreamReader(stream, {"StreamArn": "arn"})
    reader.open()
    stream.write("first")
    before = list(stream.live)
    stream.write("cancelled")

    def roll_back() -> None:
        stream.live = before

    stream.after_read = roll_back  # the read sees the cancelled write; the rollback follows
    assert names(reader.read()) == ["first"]
    stream.write("second")
    assert names(reader.read()) == ["second"]


# Firehose buffering


class FakeReader:
    def __init__(self) -> None:
        self.batches: list[list[dict]] = []

    def read(self) -> list[dict]:
        return self.batches.pop(0) if self.batches else []


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[f"{Bucket}/{Key}"] = Body


def delivery_resource(size_mb: float = 5.0, interval: float = 60.0, compression: str = "GZIP") -> dict:
    return {
        "name": "archive-delivery",
        "id": "archive-delivery-1",
        "inputs": {
            "kinesisSourceConfiguration": {
                "kinesisStreamArn": "arn:aws:kinesis:us-east-1:1:stream/archive-s"
            },
            "extendedS3Configuration": {
                "bucketArn": "arn:aws:s3:::archive-b",
                "prefix": ARCHIVE_PREFIX,
                "bufferingSize": size_mb,
                "bufferingInterval": interval,
                "compressionFormat": compression,
            },
        },
        "outputs": {"name": "archive-delivery-1"},
    }


def test_delivery_config_reads_the_resource_and_scales_the_interval():
    config = DeliveryConfig.from_resource(delivery_resource(), scale=60)
    assert (config.name, config.stream_name, config.bucket) == (
        "archive-delivery-1",
        "archive-s",
        "archive-b",
    )
    assert config.buffer_bytes == 5 * 1024 * 1024
    assert config.buffer_seconds == 1.0
    assert config.compression == "GZIP"


def firehose(resource: dict, now: list[float]) -> tuple[FirehoseDelivery, FakeReader, FakeS3]:
    reader, s3 = FakeReader(), FakeS3()
    delivery = FirehoseDelivery(
        DeliveryConfig.from_resource(resource, scale=60), reader, s3, clock=lambda: now[0], now=lambda: AT
    )
    return delivery, reader, s3


def test_firehose_flushes_one_object_when_the_interval_passes():
    now = [100.0]
    delivery, reader, s3 = firehose(delivery_resource(), now)
    reader.batches = [[{"Data": b'{"n":1}'}], [{"Data": b'{"n":2}'}]]
    delivery.step()
    now[0] += 0.5
    delivery.step()
    assert s3.objects == {}
    now[0] += 0.6
    delivery.step()
    [(key, body)] = s3.objects.items()
    assert key.startswith(
        "archive-b/changes/region=us-east-1/year=2026/month=03/day=07/hour=05/archive-delivery-1-1-"
    )
    assert gzip.decompress(body) == b'{"n":1}\n{"n":2}\n'


def test_firehose_flushes_when_the_buffer_reaches_its_size_before_the_interval():
    now = [100.0]
    delivery, reader, s3 = firehose(delivery_resource(size_mb=1, compression="UNCOMPRESSED"), now)
    reader.batches = [[{"Data": b"x" * 600_000}], [{"Data": b"y" * 600_000}]]
    delivery.step()
    assert s3.objects == {}
    delivery.step()
    assert len(s3.objects) == 1
    assert delivery.buffer == []


def test_firehose_writes_nothing_without_records():
    now = [100.0]
    delivery, _, s3 = firehose(delivery_resource(), now)
    delivery.step()
    now[0] += 120
    delivery.step()
    assert s3.objects == {}


# Configuration


def test_time_scale_defaults_to_a_minute_per_second(monkeypatch):
    monkeypatch.delenv("LOCALCLOUD_TIME_SCALE", raising=False)
    assert time_scale() == 60


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_time_scale_must_be_positive(monkeypatch, value):
    monkeypatch.setenv("LOCALCLOUD_TIME_SCALE", value)
    with pytest.raises(ValueError, match="LOCALCLOUD_TIME_SCALE"):
        time_scale()


class FakeGraph:
    def __init__(self, region: str, resources: list[dict]) -> None:
        self.region = region
        self.resources = resources

    def of_type(self, typ: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == typ]


def test_global_tables_come_from_the_deployed_replicas():
    replica = {
        "type": "aws:dynamodb/tableReplica:TableReplica",
        "inputs": {"globalTableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/data-table-1"},
    }
    graphs = [FakeGraph(EAST, []), FakeGraph(WEST, [replica])]
    assert global_tables(graphs) == {"data-table-1": [EAST, WEST]}
    assert global_tables([FakeGraph(EAST, [])]) == {}


class _Reader:
    def read(self) -> list[dict[str, Any]]:
        return []


class _Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def accept(self, records: list[dict[str, Any]]) -> None:
        return

    def flush(self) -> None:
        raise self.error


def test_a_destination_that_does_not_answer_is_one_warning_and_any_other_failure_a_traceback(caplog):
    import botocore.exceptions

    from localcloud.streams.service import TableStream

    closed = botocore.exceptions.ConnectionClosedError(endpoint_url="http://127.0.0.1:1/")
    for error, traced in ((closed, False), (RuntimeError("a bug"), True)):
        caplog.clear()
        stream = TableStream("us-east-1", "app", None, None, [_Failing(error)])
        stream.reader = _Reader()  # type: ignore[assignment]
        stream.step()
        (record,) = [r for r in caplog.records if "could not deliver" in r.getMessage()]
        assert (record.exc_info is not None) is traced, record.getMessage()
        assert record.levelname == ("ERROR" if traced else "WARNING")
