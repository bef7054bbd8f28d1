"""``KinesisStreamingDestination``, locally: the table's stream records go to the Kinesis stream in
the JSON DynamoDB writes to Kinesis Data Streams. Replicated writes reach every replica's stream,
as in AWS, so each region's archive holds every change.
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any

from localcloud.streams.records import canonical, epoch

# Kinesis PutRecords takes at most 500 records and 5 MiB per call; keep a margin.
PUT_RECORDS_MAX = 500
PUT_RECORDS_BYTES = 4 * 1024 * 1024


def kinesis_record(record: dict[str, Any], region: str, table: str) -> dict[str, Any]:
    """A table stream record as DynamoDB writes it to a Kinesis data stream."""
    stream = record["dynamodb"]
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": int(epoch(stream["ApproximateCreationDateTime"]) * 1000),
        "Keys": stream["Keys"],
    }
    for image in ("NewImage", "OldImage"):
        if image in stream:
            change[image] = stream[image]
    change["SizeBytes"] = stream.get("SizeBytes", len(canonical(change)))
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
            data = canonical(kinesis_record(record, self.region, self.table)).encode()
            key = hashlib.md5(canonical(record["dynamodb"]["Keys"]).encode(), usedforsecurity=False)
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
