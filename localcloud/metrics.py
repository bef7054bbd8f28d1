"""CloudWatch metrics, locally: what AWS would record, kept in memory and written to moto.

Sources, as in AWS:
- Embedded metric format (EMF) lines in function logs (Powertools prints them): every JSON line
  with an ``_aws.CloudWatchMetrics`` directive becomes one datapoint per metric, value and
  dimension set.
- AWS/Lambda ``Invocations``, ``Errors``, ``Throttles``, ``Duration`` per ``FunctionName``, from
  the runner's invocation records.
- AWS/ApiGateway ``Count``, ``4xx``, ``5xx``, ``Latency`` per ``ApiId`` and ``Stage`` ``$default``,
  from each gateway's per-request callback.
- AWS/SQS ``ApproximateNumberOfMessagesVisible`` per ``QueueName``, sampled from moto once per
  minute of AWS time (see LOCALCLOUD_TIME_SCALE in ``localcloud.alarms``).
- AWS/DynamoDB ``ReplicationLatency`` per ``TableName`` and ``ReceivingRegion``, from the
  replicator (``localcloud.streams``): one datapoint per replicated write, in the source region.

Every datapoint keeps its real timestamp. The in-memory series are what the alarm evaluator and
the dashboard read (moto's ``get_metric_data`` can't do metric math, and its periods can't be
compressed); the same datapoints are written to moto in batches, so ``get_metric_data`` and
``list_metrics`` against the local endpoint show them too.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("localcloud.metrics")

Dimensions = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: a hashable dimension set
MAX_PUT_BATCH = 500  # put_metric_data accepts 1000 datapoints a call; stay well below


def dimensions(values: Mapping[str, Any]) -> Dimensions:
    return tuple(sorted((str(name), str(value)) for name, value in values.items()))


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    name: str
    dimensions: Dimensions
    value: float
    unit: str
    timestamp: float  # epoch seconds


def parse_emf(line: str, now: float | None = None) -> list[Datapoint]:
    """The datapoints of one log line in CloudWatch embedded metric format; [] for any other line.

    Values may be a number or a list of numbers (Powertools prints lists); a line that is not a
    valid EMF document is ignored, as CloudWatch Logs ignores it.
    """
    if '"_aws"' not in line:
        return []
    try:
        document = json.loads(line)
        directive = document["_aws"]
        timestamp = float(directive.get("Timestamp", (now or time.time()) * 1000)) / 1000
        points = []
        for block in directive["CloudWatchMetrics"]:
            namespace = str(block["Namespace"])
            sets = block.get("Dimensions") or [[]]
            for metric in block["Metrics"]:
                name = metric["Name"]
                raw = document.get(name)
                values = raw if isinstance(raw, list) else [raw]
                numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
                for dimension_names in sets:
                    dims = dimensions({key: document[key] for key in dimension_names})
                    points += [
                        Datapoint(namespace, name, dims, value, metric.get("Unit", "None"), timestamp)
                        for value in numbers
                        if math.isfinite(value)
                    ]
        return points
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


class Series:
    """One metric's raw datapoints (timestamp, value), oldest first; those older than the newest
    by more than the retention are dropped."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[float] = []

    def add(self, timestamp: float, value: float, retention: float) -> None:
        if self.times and timestamp < self.times[-1]:
            index = bisect.bisect_right(self.times, timestamp)
            self.times.insert(index, timestamp)
            self.values.insert(index, value)
        else:
            self.times.append(timestamp)
            self.values.append(value)
        oldest = self.times[-1] - retention
        if self.times[0] < oldest:
            cut = bisect.bisect_left(self.times, oldest)
            del self.times[:cut], self.values[:cut]

    def between(self, start: float, end: float) -> list[float]:
        """Values with start <= timestamp < end."""
        return self.values[bisect.bisect_left(self.times, start) : bisect.bisect_left(self.times, end)]


class RegionMetrics(threading.Thread):
    """One region's metrics: in-memory series for reading, and a writer that batches them to moto."""

    def __init__(self, region: str, cloudwatch: Any, retention_seconds: float) -> None:
        super().__init__(name=f"metrics-{region}", daemon=True)
        self.region = region
        self.cloudwatch = cloudwatch
        self.retention = retention_seconds
        self.series: dict[tuple[str, str, Dimensions], Series] = {}
        self.lock = threading.Lock()
        self.pending: queue.Queue[Datapoint | None] = queue.Queue()
        self.stopped = threading.Event()

    def put(
        self,
        namespace: str,
        name: str,
        dims: Mapping[str, Any],
        value: float,
        unit: str = "None",
        timestamp: float | None = None,
    ) -> None:
        self.add(Datapoint(namespace, name, dimensions(dims), float(value), unit, timestamp or time.time()))

    def add(self, point: Datapoint) -> None:
        with self.lock:
            key = (point.namespace, point.name, point.dimensions)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = Series()
            series.add(point.timestamp, point.value, self.retention)
        self.pending.put(point)

    def values(self, namespace: str, name: str, dims: Dimensions, start: float, end: float) -> list[float]:
        with self.lock:
            series = self.series.get((namespace, name, dims))
            return series.between(start, end) if series else []

    def run(self) -> None:
        while not self.stopped.is_set():
            batch = [self.pending.get()]
            if batch[0] is None:
                return
            self.stopped.wait(1.0)
            while len(batch) < 5000:
                try:
                    batch.append(self.pending.get_nowait())
                except queue.Empty:
                    break
            self._write([point for point in batch if point is not None])

    def _write(self, points: list[Datapoint]) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for point in points:
            by_namespace.setdefault(point.namespace, []).append(
                {
                    "MetricName": point.name,
                    "Dimensions": [{"Name": key, "Value": value} for key, value in point.dimensions],
                    "Timestamp": datetime.fromtimestamp(point.timestamp, UTC),
                    "Value": point.value,
                    "Unit": point.unit if point.unit in UNITS else "None",
                }
            )
        for namespace, data in by_namespace.items():
            for index in range(0, len(data), MAX_PUT_BATCH):
                try:
                    self.cloudwatch.put_metric_data(
                        Namespace=namespace, MetricData=data[index : index + MAX_PUT_BATCH]
                    )
                except Exception:
                    log.exception("could not write %s metrics to moto in %s", namespace, self.region)

    def stop(self) -> None:
        self.stopped.set()
        self.pending.put(None)


UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}


# Hooks: how each source reaches a region's metrics


def emf_tap(ship: Callable[[str, str, str], None], metrics: RegionMetrics) -> Callable[[str, str, str], None]:
    """A log-shipping callback that also turns EMF lines into metrics, as CloudWatch Logs does."""

    def tapped(group: str, stream: str, line: str) -> None:
        ship(group, stream, line)
        for point in parse_emf(line):
            metrics.add(point)

    return tapped


def lambda_recorder(function_name: str, metrics: RegionMetrics) -> Callable[[Any], None]:
    """The runner's per-invocation callback: AWS/Lambda metrics for one function."""
    dims = {"FunctionName": function_name}

    def record(invocation: Any) -> None:
        now = time.time()
        if invocation.throttled:
            metrics.put("AWS/Lambda", "Throttles", dims, 1, "Count", now)
            return
        metrics.put("AWS/Lambda", "Invocations", dims, 1, "Count", now)
        metrics.put("AWS/Lambda", "Errors", dims, int(invocation.error is not None), "Count", now)
        metrics.put("AWS/Lambda", "Throttles", dims, 0, "Count", now)
        metrics.put("AWS/Lambda", "Duration", dims, invocation.duration_ms, "Milliseconds", now)

    return record


def api_recorder(api_id: str, metrics: RegionMetrics) -> Callable[[str, float], None]:
    """A gateway's per-request callback: AWS/ApiGateway metrics for one HTTP API's stage."""
    dims = {"ApiId": api_id, "Stage": "$default"}
    units = {"Latency": "Milliseconds"}

    def record(name: str, value: float) -> None:
        metrics.put("AWS/ApiGateway", name, dims, value, units.get(name, "Count"))

    return record


def replication_recorder(
    metrics: Mapping[str, RegionMetrics],
) -> Callable[[str, str, str, float, float], None]:
    """The replicator's per-write callback: AWS/DynamoDB ReplicationLatency, from the source stream
    record's creation time to the write landing in the receiving region."""

    # Per source and destination pair, dimension ReceivingRegion, so in the source region:
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/V2globaltables_monitoring.html
    def record(table: str, source: str, receiving: str, created: float, landed: float) -> None:
        if source in metrics:
            dims = {"TableName": table, "ReceivingRegion": receiving}
            latency_ms = max(0.0, (landed - created) * 1000)
            metrics[source].put(
                "AWS/DynamoDB", "ReplicationLatency", dims, latency_ms, "Milliseconds", landed
            )

    return record


class QueueDepthSampler(threading.Thread):
    """AWS/SQS ApproximateNumberOfMessagesVisible for each queue, sampled from moto."""

    def __init__(self, sqs: Any, queues: Iterable[tuple[str, str]], metrics: RegionMetrics, interval: float):
        super().__init__(name=f"sqs-depth-{metrics.region}", daemon=True)
        self.sqs = sqs
        self.queues = list(queues)  # (name, url)
        self.metrics = metrics
        self.interval = interval
        self.stopped = threading.Event()

    def sample(self) -> None:
        for name, url in self.queues:
            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
            except Exception:
                log.exception("could not read the depth of %s", name)
                continue
            visible = int(attributes.get("ApproximateNumberOfMessages", 0))
            self.metrics.put("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": name}, visible)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.stopped.set()


def statistic(values: list[float], stat: str) -> float | None:
    """CloudWatch's statistic over one period's raw values; None when the period has no data."""
    if not values:
        return None
    lowered = stat.lower()
    if lowered == "sum":
        return sum(values)
    if lowered == "average":
        return sum(values) / len(values)
    if lowered == "minimum":
        return min(values)
    if lowered == "maximum":
        return max(values)
    if lowered == "samplecount":
        return float(len(values))
    if lowered.startswith("p"):
        ordered = sorted(values)
        rank = float(lowered[1:]) / 100 * len(ordered)
        return ordered[max(0, min(len(ordered) - 1, math.ceil(rank) - 1))]
    raise ValueError(f"unsupported statistic {stat!r}")
