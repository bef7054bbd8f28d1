"""Reading a stream's shards, as a consumer does: a Kinesis data stream or a table's DynamoDB stream.

Every reader starts at the stream's end (LATEST) when ``open()`` returns: earlier changes are
not carried. A table stream's reader asks for a fresh iterator at every poll (below), and moto
keeps each for the 15 minutes DynamoDB Streams honours one (``localcloud.motoserver``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
