"""Embedded metric format (EMF) lines in function logs (Powertools prints them), as CloudWatch Logs
reads them: every JSON line with an ``_aws.CloudWatchMetrics`` directive becomes one datapoint per
metric, value and dimension set.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from localcloud.cloudwatch.metrics import Datapoint, RegionMetrics, dimensions


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


def emf_tap(ship: Callable[[str, str, str], None], metrics: RegionMetrics) -> Callable[[str, str, str], None]:
    """A log-shipping callback that also turns EMF lines into metrics, as CloudWatch Logs does."""

    def tapped(group: str, stream: str, line: str) -> None:
        ship(group, stream, line)
        for point in parse_emf(line):
            metrics.add(point)

    return tapped
