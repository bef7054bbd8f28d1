"""Table streams, locally: DynamoDB global table replication, the table's Kinesis streaming
destination, and Firehose from Kinesis to S3, as the deployed resources configure them.

moto keeps each table's stream but runs none of the three (see FACTS.md). Per region:

- Global tables (version 2019.11.21): each replica's stream is read and every INSERT/MODIFY (its
  new image) and REMOVE (its keys) is applied to the table of the same name in every other region
  of the global table. Conflicts resolve last writer wins on the stream record's creation time.
  A write the replicator made comes back in the target's stream too; it is recognised by its
  fingerprint (region, table, keys, new image) and not sent back, so nothing loops. Each write
  that lands is reported (``Streams.landed``) as AWS/DynamoDB ReplicationLatency: the time from
  the source stream record's creation to the write in the receiving region.
- ``KinesisStreamingDestination``: the table's stream records go to the Kinesis stream in the
  JSON DynamoDB writes to Kinesis Data Streams. Replicated writes reach every replica's stream, as
  in AWS, so each region's archive holds every change.
- ``FirehoseDeliveryStream`` with a Kinesis source: the stream is read and buffered by the
  buffering hints (size or interval, whichever comes first); each flush writes one S3 object
  under the prefix with its ``!{timestamp:...}`` expressions expanded at flush time (UTC), named
  as Firehose names objects, GZIP-compressed when configured, one JSON record per line.

``LOCALCLOUD_TIME_SCALE`` (default 60) is how many seconds of AWS time pass in one local second;
it shortens buffering intervals, so the archive's 60 s interval flushes every second locally.
Set it to 1 for AWS's timing.

Every reader starts at the stream's end (LATEST) when ``start()`` returns: earlier changes are
not carried. moto stores every shard iterator it hands out, so polling a table stream costs moto
a few KB of memory per poll (about 80 MB an hour for two idle regions).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import re
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.events import Poller
from localcloud.settings import time_scale

log = logging.getLogger("localcloud.streams")

REPLICA = "aws:dynamodb/tableReplica:TableReplica"
DESTINATION = "aws:dynamodb/kinesisStreamingDestination:KinesisStreamingDestination"
DELIVERY = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"

# Fast while changes flow, slower when idle: replicas stay within ~0.5 s of each other.
ACTIVE_POLL = 0.2
IDLE_POLL = 0.5
FIREHOSE_POLL = 0.25
# How long the replicator remembers its own writes and the latest version of each item.
MEMORY_SECONDS = 300.0
# Kinesis PutRecords takes at most 500 records and 5 MiB per call; keep a margin.
PUT_RECORDS_MAX = 500
PUT_RECORDS_BYTES = 4 * 1024 * 1024

Item = dict[str, Any]


# Firehose prefixes and objects


# Java DateTimeFormatter letters Firehose accepts in !{timestamp:...}, longest first.
_JAVA_TIME = {
    "yyyy": "%Y",
    "yy": "%y",
    "MM": "%m",
    "dd": "%d",
    "HH": "%H",
    "mm": "%M",
    "ss": "%S",
}
_JAVA_TOKEN = re.compile("|".join(sorted(_JAVA_TIME, key=len, reverse=True)))
_EXPRESSION = re.compile(r"!\{([^}:]+):([^}]*)\}")


def _random_string(length: int = 11) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def expand_prefix(prefix: str, at: datetime, error_output_type: str | None = None) -> str:
    """A Firehose S3 prefix with its expressions evaluated at `at` (UTC).

    Like Firehose, a prefix without expressions gets the default ``yyyy/MM/dd/HH/`` appended.
    """
    at = at.astimezone(UTC)
    if "!{" not in prefix:
        return f"{prefix}{at:%Y/%m/%d/%H}/"

    def evaluate(match: re.Match[str]) -> str:
        namespace, argument = match.group(1), match.group(2)
        if namespace == "timestamp":
            return _JAVA_TOKEN.sub(lambda token: at.strftime(_JAVA_TIME[token.group(0)]), argument)
        if namespace == "firehose" and argument == "random-string":
            return _random_string()
        if namespace == "firehose" and argument == "error-output-type" and error_output_type:
            return error_output_type
        raise ValueError(f"unsupported expression in Firehose prefix {prefix!r}: {match.group(0)}")

    return _EXPRESSION.sub(evaluate, prefix)


def object_key(prefix: str, delivery_name: str, at: datetime, compression: str) -> str:
    """Where one flush lands: ``<prefix><delivery stream>-1-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]``."""
    at = at.astimezone(UTC)
    suffix = ".gz" if compression == "GZIP" else ""
    return f"{expand_prefix(prefix, at)}{delivery_name}-1-{at:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{suffix}"


def object_body(records: Iterable[bytes], compression: str) -> bytes:
    """One JSON record per line, compressed as configured."""
    body = b"".join(record.rstrip(b"\n") + b"\n" for record in records)
    return gzip.compress(body) if compression == "GZIP" else body


# DynamoDB stream records


def _jsonable(value: Any) -> Any:
    """boto3 gives binary attributes as bytes; DynamoDB's JSON carries them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def kinesis_record(record: dict[str, Any], region: str, table: str) -> dict[str, Any]:
    """A table stream record as DynamoDB writes it to a Kinesis data stream."""
    stream = record["dynamodb"]
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": int(_epoch(stream["ApproximateCreationDateTime"]) * 1000),
        "Keys": stream["Keys"],
    }
    for image in ("NewImage", "OldImage"):
        if image in stream:
            change[image] = stream[image]
    change["SizeBytes"] = stream.get("SizeBytes", len(_canonical(change)))
    return {
        "awsRegion": region,
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "userIdentity": record.get("userIdentity"),
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": change,
        "eventSource": "aws:dynamodb",
    }


# Global table replication: the decisions (pure)


def fingerprint(region: str, table: str, keys: Item, image: Item | None) -> str:
    """Identifies a write in one region's table: the stream record it causes carries the same."""
    return hashlib.sha256(_canonical([region, table, keys, image]).encode()).hexdigest()


@dataclass(frozen=True, order=True)
class Version:
    """When a change was made (the stream record's time), ties broken by region and sequence."""

    at: float
    region: str
    sequence: int


@dataclass(frozen=True)
class Write:
    """A put (image) or delete (image None) the replicator makes in `region`'s table."""

    region: str
    table: str
    keys: Item
    image: Item | None
    version: Version
    fingerprint: str


@dataclass
class _Latest:
    version: Version
    keys: Item
    image: Item | None
    seen: float


@dataclass
class _Expected:
    """A write the replicator made whose stream record has not come back yet."""

    version: Version
    target: tuple[str, str]  # (region, item key)
    expires: float


class ReplicationLog:
    """Decides, for each stream record of a global table, what to write where so that every replica
    ends with the last writer's item, and recognises the replicator's own writes when they come
    back in a stream (they are not replicated again: no loops)."""

    def __init__(
        self,
        replicas: dict[str, list[str]],
        memory: float = MEMORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = replicas  # table name -> regions holding a replica
        self.memory = memory
        self.clock = clock
        self.lock = threading.Lock()
        self.latest: dict[str, _Latest] = {}  # item key -> the winning change
        self.expected: dict[str, list[_Expected]] = {}  # fingerprint -> writes not yet seen again
        self.in_flight: dict[tuple[str, str], Version] = {}  # (region, item key) -> newest written
        self.pruned = clock()

    def plan(self, region: str, table: str, record: dict[str, Any]) -> list[Write]:
        """The writes that follow from one stream record of `table` in `region`."""
        stream = record["dynamodb"]
        keys = stream["Keys"]
        image = None if record["eventName"] == "REMOVE" else stream.get("NewImage")
        item = _canonical([table, keys])
        with self.lock:
            now = self.clock()
            self._prune(now)
            echoed = self._claim(fingerprint(region, table, keys, image))
            latest = self.latest.get(item)
            writes: list[Write] = []
            if echoed is not None:
                held = echoed
            else:
                held = Version(
                    _epoch(stream["ApproximateCreationDateTime"]), region, int(stream["SequenceNumber"])
                )
                if latest is None or held > latest.version:
                    latest = self.latest[item] = _Latest(held, keys, image, now)
                    writes += [
                        self._write(other, table, item, keys, image, held, now)
                        for other in self.replicas.get(table, [])
                        if other != region
                    ]
            # This replica holds an older change than the winner (a local write that lost, or a
            # replicated one that landed late) and the winner is not on its way: write it again.
            if latest is not None and held < latest.version:
                pending = self.in_flight.get((region, item))
                if pending is None or pending < latest.version:
                    writes.append(
                        self._write(region, table, item, latest.keys, latest.image, latest.version, now)
                    )
            return writes

    def cancel(self, write: Write) -> None:
        """`write` changed nothing (it deleted an absent item): no stream record will come back."""
        with self.lock:
            self._claim(write.fingerprint, version=write.version)

    def _write(
        self, region: str, table: str, item: str, keys: Item, image: Item | None, version: Version, now: float
    ) -> Write:
        mark = fingerprint(region, table, keys, image)
        self.expected.setdefault(mark, []).append(_Expected(version, (region, item), now + self.memory))
        current = self.in_flight.get((region, item))
        if current is None or version > current:
            self.in_flight[(region, item)] = version
        return Write(region, table, keys, image, version, mark)

    def _claim(self, mark: str, version: Version | None = None) -> Version | None:
        waiting = self.expected.get(mark)
        if not waiting:
            return None
        index = next((i for i, e in enumerate(waiting) if version is None or e.version == version), None)
        if index is None:
            return None
        expected = waiting.pop(index)
        if not waiting:
            del self.expected[mark]
        if self.in_flight.get(expected.target) == expected.version:
            del self.in_flight[expected.target]
        return expected.version

    def _prune(self, now: float) -> None:
        if now - self.pruned < 10:
            return
        self.pruned = now
        for mark in list(self.expected):
            alive = [e for e in self.expected[mark] if e.expires > now]
            if alive:
                self.expected[mark] = alive
            else:
                del self.expected[mark]
        waiting = {e.target for entries in self.expected.values() for e in entries}
        self.in_flight = {target: v for target, v in self.in_flight.items() if target in waiting}
        self.latest = {
            item: latest for item, latest in self.latest.items() if now - latest.seen < self.memory
        }


# Reading streams


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    last: str | None = None  # sequence number of the last record read
    # Where to ask for a fresh iterator on the next read, once known (table streams only).
    position: tuple[str, str] | None = None


class ShardReader:
    """Every shard of a stream, read from LATEST on by following NextShardIterator."""

    sequence_parameter = "SequenceNumber"

    def __init__(self, client: Any, stream: dict[str, str]) -> None:
        self.client = client
        self.stream = stream  # {"StreamArn": ...} or {"StreamName": ...}
        self.shards: list[_Shard] = []

    def open(self) -> None:
        self.shards = [_Shard(shard_id, self._iterator(shard_id, "LATEST")) for shard_id in self._shard_ids()]

    def read(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for shard in self.shards:
            iterator = shard.iterator
            if shard.position is not None:
                iterator = self._iterator(shard.shard_id, *shard.position)
            if iterator is None:
                continue  # a closed shard
            try:
                response = self.client.get_records(ShardIterator=iterator, Limit=1000)
            except self.client.exceptions.ExpiredIteratorException:
                shard.iterator = self._resume(shard)
                continue
            shard.iterator = response.get("NextShardIterator")
            batch = self._keep(shard, response["Records"])
            if batch:
                shard.last = self._sequence(batch[-1])
            records += batch
        return records

    def _keep(self, shard: _Shard, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return batch

    def _resume(self, shard: _Shard) -> str:
        if shard.last is None:
            return self._iterator(shard.shard_id, "LATEST")
        return self._iterator(shard.shard_id, "AFTER_SEQUENCE_NUMBER", shard.last)

    def _iterator(self, shard_id: str, kind: str, sequence: str | None = None) -> str:
        extra = {self.sequence_parameter: sequence} if sequence else {}
        return self.client.get_shard_iterator(
            **self.stream, ShardId=shard_id, ShardIteratorType=kind, **extra
        )["ShardIterator"]

    def _shard_ids(self) -> list[str]:
        raise NotImplementedError

    def _sequence(self, record: dict[str, Any]) -> str:
        raise NotImplementedError


class TableStreamReader(ShardReader):
    """A table's DynamoDB stream (boto3 ``dynamodbstreams``).

    moto rolls a cancelled transaction back by swapping in a copy of the table made before it,
    stream included. Iterators keep reading the discarded stream, which holds the cancelled
    writes and misses every later one. So the reader keeps a position instead (the stream's end
    when opened, like LATEST, then after the last record read), asks for a fresh iterator there
    on every read, and keeps a batch only as far as the live stream still holds the same records.
    """

    def open(self) -> None:
        description = self.client.describe_stream(**self.stream)["StreamDescription"]
        self.shards = []
        for found in description["Shards"]:
            shard = _Shard(found["ShardId"], None)
            start = found["SequenceNumberRange"]["StartingSequenceNumber"]
            shard.position = ("AT_SEQUENCE_NUMBER", start)
            iterator = self._iterator(shard.shard_id, "TRIM_HORIZON")
            while iterator:
                page = self.client.get_records(ShardIterator=iterator, Limit=1000)
                if not page["Records"]:
                    break
                shard.position = ("AFTER_SEQUENCE_NUMBER", self._sequence(page["Records"][-1]))
                iterator = page.get("NextShardIterator")
            self.shards.append(shard)

    def _sequence(self, record: dict[str, Any]) -> str:
        return record["dynamodb"]["SequenceNumber"]

    def _keep(self, shard: _Shard, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not batch:
            return batch
        first = self._sequence(batch[0])
        iterator = self._iterator(shard.shard_id, "AT_SEQUENCE_NUMBER", first)
        live = self.client.get_records(ShardIterator=iterator, Limit=len(batch))["Records"]
        kept = []
        for record, current in zip(batch, live, strict=False):
            if record["eventID"] != current["eventID"]:
                break
            kept.append(record)
        if kept:
            shard.position = ("AFTER_SEQUENCE_NUMBER", self._sequence(kept[-1]))
        else:  # none of it happened: the live stream's next record takes the first one's place
            shard.position = ("AT_SEQUENCE_NUMBER", first)
        return kept


class KinesisReader(ShardReader):
    """A Kinesis data stream, as a consumer such as Firehose reads it."""

    sequence_parameter = "StartingSequenceNumber"

    def _shard_ids(self) -> list[str]:
        shards: list[str] = []
        request: dict[str, Any] = dict(self.stream)
        while True:
            response = self.client.list_shards(**request)
            shards += [shard["ShardId"] for shard in response["Shards"]]
            if not response.get("NextToken"):
                return shards
            request = {"NextToken": response["NextToken"]}

    def _sequence(self, record: dict[str, Any]) -> str:
        return record["SequenceNumber"]


# What reads a table's stream


# (table, source region, receiving region, stream record's creation time, landed time), epoch s
Landed = Callable[[str, str, str, float, float], None]


class Replicator:
    """Carries one region's table changes to the other replicas of its global table."""

    def __init__(
        self,
        region: str,
        table: str,
        log_: ReplicationLog,
        clients: dict[str, Any],
        landed: Landed | None = None,
    ) -> None:
        self.region = region
        self.table = table
        self.log = log_
        self.clients = clients  # region -> dynamodb client
        self.landed = landed  # told of every write that reached a replica (ReplicationLatency)
        self.pending: deque[Write] = deque()

    def accept(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.pending.extend(self.log.plan(self.region, self.table, record))

    def flush(self) -> None:
        while self.pending:
            write = self.pending[0]
            client = self.clients[write.region]
            applied = True
            if write.image is not None:
                client.put_item(TableName=write.table, Item=write.image)
            else:
                old = client.delete_item(TableName=write.table, Key=write.keys, ReturnValues="ALL_OLD")
                if not old.get("Attributes"):
                    self.log.cancel(write)
                    applied = False
            self.pending.popleft()
            if applied and self.landed is not None:
                # The change's own region and stream time (a repair write carries the winner's).
                self.landed(write.table, write.version.region, write.region, write.version.at, time.time())


class StreamingDestination:
    """``KinesisStreamingDestination``: a table's changes into a Kinesis data stream."""

    def __init__(self, region: str, table: str, kinesis: Any, stream_name: str) -> None:
        self.region = region
        self.table = table
        self.kinesis = kinesis
        self.stream_name = stream_name
        self.pending: deque[dict[str, Any]] = deque()

    def accept(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            data = _canonical(kinesis_record(record, self.region, self.table)).encode()
            key = hashlib.md5(_canonical(record["dynamodb"]["Keys"]).encode(), usedforsecurity=False)
            self.pending.append({"Data": data, "PartitionKey": key.hexdigest()})

    def flush(self) -> None:
        while self.pending:
            batch: list[dict[str, Any]] = []
            size = 0
            while self.pending and len(batch) < PUT_RECORDS_MAX and size < PUT_RECORDS_BYTES:
                entry = self.pending.popleft()
                batch.append(entry)
                size += len(entry["Data"])
            try:
                response = self.kinesis.put_records(StreamName=self.stream_name, Records=batch)
            except Exception:
                self.pending.extendleft(reversed(batch))
                raise
            failed = [
                e for e, result in zip(batch, response["Records"], strict=True) if "ErrorCode" in result
            ]
            if failed:
                self.pending.extendleft(reversed(failed))
                raise RuntimeError(f"Kinesis {self.stream_name} refused {len(failed)} records; retrying")


class TableStream:
    """One region's table stream, read once and handed to each consumer."""

    def __init__(self, region: str, table: str, dynamodb: Any, streams: Any, consumers: list[Any]) -> None:
        self.region = region
        self.table = table
        self.dynamodb = dynamodb
        self.streams = streams
        self.consumers = consumers
        self.reader: TableStreamReader | None = None

    def open(self) -> None:
        arn = self.dynamodb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]
        self.reader = TableStreamReader(self.streams, {"StreamArn": arn})
        self.reader.open()

    def step(self) -> float:
        assert self.reader is not None, "open() first"
        records = self.reader.read()
        for consumer in self.consumers:
            consumer.accept(records)
        for consumer in self.consumers:
            try:
                consumer.flush()
            except Exception:
                # Kept pending by the consumer; the next step retries it.
                log.exception("%s: %s could not deliver", self.table, type(consumer).__name__)
        return ACTIVE_POLL if records else IDLE_POLL


# Firehose


@dataclass(frozen=True)
class DeliveryConfig:
    name: str
    stream_name: str
    bucket: str
    prefix: str
    buffer_bytes: int
    buffer_seconds: float  # local seconds: the configured interval over the time scale
    compression: str

    @classmethod
    def from_resource(cls, resource: dict[str, Any], scale: float) -> DeliveryConfig:
        inputs = resource["inputs"]
        s3 = inputs.get("extendedS3Configuration") or inputs.get("s3Configuration") or {}
        compression = s3.get("compressionFormat", "UNCOMPRESSED")
        if compression not in ("GZIP", "UNCOMPRESSED"):
            log.warning(
                "%s: %s compression is not emulated; writing uncompressed", resource["name"], compression
            )
            compression = "UNCOMPRESSED"
        return cls(
            name=resource["outputs"].get("name", resource["id"]),
            stream_name=inputs["kinesisSourceConfiguration"]["kinesisStreamArn"].split(":stream/", 1)[1],
            bucket=s3["bucketArn"].split(":::", 1)[1],
            prefix=s3.get("prefix") or "",
            buffer_bytes=int(float(s3.get("bufferingSize", 5)) * 1024 * 1024),
            buffer_seconds=float(s3.get("bufferingInterval", 300)) / scale,
            compression=compression,
        )


@dataclass
class FirehoseDelivery:
    """A delivery stream with a Kinesis source and an S3 destination."""

    config: DeliveryConfig
    reader: KinesisReader
    s3: Any
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    buffer: list[bytes] = field(default_factory=list)
    size: int = 0
    since: float | None = None

    def accept(self, records: Iterable[bytes]) -> None:
        for data in records:
            if self.since is None:
                self.since = self.clock()
            self.buffer.append(data)
            self.size += len(data)

    def due(self) -> bool:
        if not self.buffer or self.since is None:
            return False
        return (
            self.size >= self.config.buffer_bytes or self.clock() - self.since >= self.config.buffer_seconds
        )

    def flush(self) -> str:
        """Writes the buffer as one object; returns its key. On failure the buffer is kept."""
        config = self.config
        key = object_key(config.prefix, config.name, self.now(), config.compression)
        self.s3.put_object(Bucket=config.bucket, Key=key, Body=object_body(self.buffer, config.compression))
        self.buffer, self.size, self.since = [], 0, None
        return key

    def step(self) -> float:
        self.accept(record["Data"] for record in self.reader.read())
        if self.due():
            self.flush()
        return FIREHOSE_POLL


# Wiring


def global_tables(graphs: list[Any]) -> dict[str, list[str]]:
    """Table name -> the regions holding a replica, from the deployed TableReplica resources."""
    deployed = {graph.region for graph in graphs}
    tables: dict[str, list[str]] = {}
    for graph in graphs:
        for replica in graph.of_type(REPLICA):
            arn = replica["inputs"]["globalTableArn"]
            source, table = arn.split(":")[3], arn.rsplit("/", 1)[-1]
            regions = tables.setdefault(table, [source] if source in deployed else [])
            if graph.region not in regions:
                regions.append(graph.region)
    return {table: regions for table, regions in tables.items() if len(regions) > 1}


class Streams:
    """Every region's table streams, Kinesis streaming destinations and Firehose deliveries."""

    def __init__(self, graphs: list[dict[str, Any]], moto_url: str) -> None:
        from localcloud.cloud import Graph  # cloud.py imports this module

        self.graphs = [Graph(data) for data in graphs]
        self.moto_url = moto_url
        self.replicas = global_tables(self.graphs)
        self.log = ReplicationLog(self.replicas)
        self.landed: Landed | None = None  # set before start(): metrics.replication_recorder
        self.scale = time_scale()
        self.tables: list[TableStream] = []
        self.deliveries: list[FirehoseDelivery] = []
        self.pollers: list[Poller] = []

    def _client(self, service: str, region: str) -> Any:
        from localcloud.cloud import aws_client

        return aws_client(service, region, self.moto_url)

    def _build(self) -> None:
        for graph in self.graphs:
            region = graph.region
            consumers: dict[str, list[Any]] = {}
            for table, regions in self.replicas.items():
                if region in regions:
                    clients = {other: self._client("dynamodb", other) for other in regions if other != region}
                    consumers.setdefault(table, []).append(
                        Replicator(region, table, self.log, clients, self.landed)
                    )
            for destination in graph.of_type(DESTINATION):
                table = destination["inputs"]["tableName"]
                stream = destination["inputs"]["streamArn"].split(":stream/", 1)[1]
                kinesis = self._client("kinesis", region)
                consumers.setdefault(table, []).append(StreamingDestination(region, table, kinesis, stream))
            for table, wanted in consumers.items():
                self.tables.append(
                    TableStream(
                        region,
                        table,
                        self._client("dynamodb", region),
                        self._client("dynamodbstreams", region),
                        wanted,
                    )
                )
            for resource in graph.of_type(DELIVERY):
                if not (resource["inputs"].get("kinesisSourceConfiguration") or {}).get("kinesisStreamArn"):
                    continue  # direct PUT: moto's Firehose writes those itself
                config = DeliveryConfig.from_resource(resource, self.scale)
                reader = KinesisReader(self._client("kinesis", region), {"StreamName": config.stream_name})
                self.deliveries.append(FirehoseDelivery(config, reader, self._client("s3", region)))

    def start(self) -> None:
        """Positions every reader at LATEST, then starts polling: no change after this is missed."""
        self._build()
        for table in self.tables:
            table.open()
            self.pollers.append(_poller(f"table stream {table.region} {table.table}", table.step))
        for delivery in self.deliveries:
            delivery.reader.open()
            self.pollers.append(_poller(f"firehose {delivery.config.name}", delivery.step))
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=5)


def _poller(name: str, step: Callable[[], float]) -> Poller:
    """A Poller that waits (interruptibly) as long as `step` asks between calls."""

    def wait_as_asked() -> None:
        poller.stopped.wait(step())

    poller = Poller(name, wait_as_asked)
    return poller
