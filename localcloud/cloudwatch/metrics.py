"""CloudWatch metrics, locally: what AWS would record, kept in memory and written to moto.

Every datapoint keeps its real timestamp. The in-memory series are what the alarm evaluator and
the dashboard read (moto's ``get_metric_data`` can't do metric math, and its periods can't be
compressed); the same datapoints are written to moto in batches, so ``get_metric_data`` and
``list_metrics`` against the local endpoint show them too.
"""

from __future__ import annotations

import bisect
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
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
        # Whether the region is blacked out (set by the local cloud): writes to moto wait.
        self.out: Callable[[], bool] = lambda: False

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
            while self.out() and not self.stopped.is_set():
                self.stopped.wait(0.2)  # the region is blacked out: its datapoints wait
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
