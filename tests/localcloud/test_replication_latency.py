"""The replicator records AWS/DynamoDB ReplicationLatency for every write it lands in a replica."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from localcloud.cloudwatch.aws_metrics import replication_recorder
from localcloud.cloudwatch.dashboard import widget_data
from localcloud.cloudwatch.metrics import RegionMetrics, dimensions
from localcloud.streams.replication import ReplicationLog, Replicator

EAST, WEST = "us-east-1", "us-west-2"
TABLE = "active-active-table"
KEYS = {"pk": {"S": "USER#u1"}, "sk": {"S": "VIEWS#us-east-1"}}
IMAGE = {**KEYS, "views": {"N": "1"}}


class FakeTable:
    """A replica's table as the replicator's dynamodb client sees it."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.items[str(sorted(KEYS))] = Item

    def delete_item(self, TableName: str, Key: dict[str, Any], ReturnValues: str) -> dict[str, Any]:
        old = self.items.pop(str(sorted(KEYS)), None)
        return {"Attributes": old} if old else {}


def record(name: str, created: float, image: dict[str, Any] | None = IMAGE) -> dict[str, Any]:
    dynamodb: dict[str, Any] = {
        "Keys": KEYS,
        "SequenceNumber": "100",
        "ApproximateCreationDateTime": datetime.fromtimestamp(created, UTC),
    }
    if image is not None:
        dynamodb["NewImage"] = image
    return {"eventName": name, "dynamodb": dynamodb}


@pytest.fixture
def metrics() -> dict[str, RegionMetrics]:
    return {region: RegionMetrics(region, cloudwatch=None, retention_seconds=3600) for region in (EAST, WEST)}


def replicator(metrics: dict[str, RegionMetrics]) -> Replicator:
    log = ReplicationLog({TABLE: [EAST, WEST]})
    return Replicator(EAST, TABLE, log, {WEST: FakeTable()}, replication_recorder(metrics))


def latencies(metrics: RegionMetrics, receiving: str) -> list[float]:
    dims = dimensions({"TableName": TABLE, "ReceivingRegion": receiving})
    return metrics.values("AWS/DynamoDB", "ReplicationLatency", dims, 0, time.time() + 1)


def test_a_replicated_write_records_its_latency_from_the_stream_records_creation(metrics):
    created = time.time() - 0.25
    east = replicator(metrics)
    east.accept([record("INSERT", created)])
    east.flush()
    [latency] = latencies(metrics[EAST], receiving=WEST)
    assert 250 <= latency < 5000  # milliseconds: the record's age when the write landed


def test_the_latency_is_published_in_the_source_region_with_the_receiving_region_dimension(metrics):
    east = replicator(metrics)
    east.accept([record("INSERT", time.time())])
    east.flush()
    assert latencies(metrics[WEST], receiving=WEST) == []
    assert latencies(metrics[WEST], receiving=EAST) == []
    assert len(latencies(metrics[EAST], receiving=WEST)) == 1


def test_a_delete_that_removed_nothing_records_no_latency(metrics):
    east = replicator(metrics)
    east.accept([record("REMOVE", time.time(), image=None)])
    east.flush()
    assert latencies(metrics[EAST], receiving=WEST) == []


def test_the_dashboards_replication_widget_shows_the_recorded_latency(metrics):
    east = replicator(metrics)
    east.accept([record("INSERT", time.time() - 0.1)])
    east.flush()
    # The widget row components/monitoring.py writes into us-east-1's dashboard body.
    properties = {
        "title": "Replication latency (ms)",
        "period": 60,
        "stat": "Average",
        "metrics": [["AWS/DynamoDB", "ReplicationLatency", "TableName", TABLE, "ReceivingRegion", WEST]],
    }
    values = widget_data(properties, metrics[EAST], time.time(), 60.0)["series"][0]["values"]
    assert [v for v in values if v is not None] == latencies(metrics[EAST], receiving=WEST)
