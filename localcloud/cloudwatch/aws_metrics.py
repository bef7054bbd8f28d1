"""The metrics AWS services publish, locally, each from the local service that would cause it:

- AWS/Lambda ``Invocations``, ``Errors``, ``Throttles``, ``Duration`` per ``FunctionName``, from
  the runner's invocation records.
- AWS/ApiGateway ``Count``, ``4xx``, ``5xx``, ``Latency`` per ``ApiId`` and ``Stage`` ``$default``,
  from each gateway's per-request callback.
- AWS/SQS ``ApproximateNumberOfMessagesVisible`` per ``QueueName``, sampled from moto once per
  minute of AWS time (see LOCALCLOUD_TIME_SCALE in ``localcloud.cloudwatch.alarms``).
- AWS/DynamoDB ``ReplicationLatency`` per ``TableName`` and ``ReceivingRegion``, from the
  replicator (``localcloud.streams.replication``): one datapoint per replicated write, in the
  source region.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from localcloud.cloudwatch.metrics import RegionMetrics

log = logging.getLogger("localcloud.metrics")


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
        # Whether the region is blacked out (set by the local cloud): nothing is sampled.
        self.out: Callable[[], bool] = lambda: False

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
            if not self.out():
                self.sample()

    def stop(self) -> None:
        self.stopped.set()
