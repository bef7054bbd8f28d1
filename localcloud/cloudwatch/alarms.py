"""CloudWatch alarms, locally: every MetricAlarm of each region evaluated as CloudWatch does. moto
stores alarms but never evaluates them.

What is evaluated, per alarm: the metric's statistic (Sum, Average, Minimum, Maximum,
SampleCount, pNN) over each of the last ``evaluationPeriods`` periods, or a metric-math
expression over such queries (``localcloud.cloudwatch.metric_math``); each datapoint against the
threshold with the comparison operator; "M out of N" with ``datapointsToAlarm``; missing
datapoints as ``treatMissingData`` says. Every alarm starts in INSUFFICIENT_DATA, as in AWS; a
state change runs the state's actions (``localcloud.cloudwatch.actions``).

Time scale: ``LOCALCLOUD_TIME_SCALE`` (default 60) says how many seconds of AWS time one real
second stands for, so a 5 minute period lasts 5 real seconds and a 1 minute period one second.
Datapoints keep their real timestamps (in moto too); only the windows are compressed. Alarms
are evaluated every ~0.5 s (CloudWatch: every minute) over windows that end at the moment of
evaluation (CloudWatch: aligned to the period), so a burst that straddles a boundary still
counts in one window. With ``LOCALCLOUD_TIME_SCALE=1`` periods last what they say.

``treatMissingData`` ``missing`` and ``ignore`` with some datapoints present: ALARM when at least
``min(M, present)`` of the present datapoints breach (CloudWatch's evaluation-range rule,
simplified: it looks further back for datapoints); otherwise OK. All missing: INSUFFICIENT_DATA
(``missing``) or the current state (``ignore``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.cloudwatch.metric_math import Expression
from localcloud.cloudwatch.metrics import Dimensions, RegionMetrics, dimensions, statistic
from localcloud.settings import time_scale

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"


COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}


def breaches(values: list[float | None], comparison: str, threshold: float) -> list[bool | None]:
    """Per datapoint: breaching, not breaching, or missing (None)."""
    compare = COMPARISONS[comparison][0]
    return [None if value is None else compare(value, threshold) for value in values]


def decide(flags: list[bool | None], datapoints_to_alarm: int, treat_missing: str, current: str) -> str:
    """The alarm state for the evaluation range's datapoints (oldest first), "M out of N"."""
    if treat_missing == "breaching":
        flags = [True if flag is None else flag for flag in flags]
    elif treat_missing == "notBreaching":
        flags = [False if flag is None else flag for flag in flags]
    present = [flag for flag in flags if flag is not None]
    if not present:
        return current if treat_missing == "ignore" else INSUFFICIENT_DATA
    needed = min(datapoints_to_alarm, len(present))
    return ALARM if sum(present) >= needed else OK


@dataclass(frozen=True)
class Query:
    id: str
    return_data: bool
    namespace: str = ""
    metric: str = ""
    dimensions: Dimensions = ()
    stat: str = ""
    period: int = 60
    expression: Expression | None = None
    label: str | None = None


@dataclass
class Alarm:
    name: str
    arn: str
    region: str
    description: str
    queries: list[Query]
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str
    actions: dict[str, list[str]]  # state -> ARNs
    single_metric: bool
    state: str = INSUFFICIENT_DATA
    reason: str = "Unchecked: Initial alarm creation"
    changed: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_resource(cls, resource: dict[str, Any], region: str) -> Alarm:
        inputs, outputs = resource["inputs"], resource["outputs"]
        queries: list[Query] = []
        if inputs.get("metricName"):
            queries.append(
                Query(
                    id="m1",
                    return_data=True,
                    namespace=inputs["namespace"],
                    metric=inputs["metricName"],
                    dimensions=dimensions(inputs.get("dimensions") or {}),
                    stat=inputs.get("extendedStatistic") or inputs["statistic"],
                    period=int(inputs["period"]),
                )
            )
        for item in inputs.get("metricQueries") or []:
            metric = item.get("metric")
            queries.append(
                Query(
                    id=item["id"],
                    return_data=bool(item.get("returnData")),
                    namespace=metric["namespace"] if metric else "",
                    metric=metric["metricName"] if metric else "",
                    dimensions=dimensions(metric.get("dimensions") or {}) if metric else (),
                    stat=metric["stat"] if metric else "",
                    period=int(metric["period"]) if metric else int(item.get("period") or 60),
                    expression=Expression(item["expression"]) if item.get("expression") else None,
                    label=item.get("label"),
                )
            )
        evaluation_periods = int(inputs["evaluationPeriods"])
        return cls(
            name=outputs["name"],
            arn=outputs["arn"],
            region=region,
            description=inputs.get("alarmDescription") or "",
            queries=queries,
            period=int(inputs.get("period") or next((q.period for q in queries if q.metric), 60)),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(inputs.get("datapointsToAlarm") or evaluation_periods),
            threshold=float(inputs["threshold"]),
            comparison=inputs["comparisonOperator"],
            treat_missing=inputs.get("treatMissingData") or "missing",
            actions={
                ALARM: list(inputs.get("alarmActions") or []),
                OK: list(inputs.get("okActions") or []),
                INSUFFICIENT_DATA: list(inputs.get("insufficientDataActions") or []),
            },
            single_metric=bool(inputs.get("metricName")),
        )

    def datapoints(self, metrics: RegionMetrics, now: float, scale: float) -> list[float | None]:
        """The evaluation range's datapoints, oldest first; windows end at `now`."""
        span = self.period / scale
        points = []
        for index in range(self.evaluation_periods - 1, -1, -1):
            end = now - index * span
            points.append(self.value(metrics, end - span, end))
        return points

    def value(self, metrics: RegionMetrics, start: float, end: float) -> float | None:
        values: dict[str, float | None] = {}
        for query in self.queries:
            if query.expression is None:
                raw = metrics.values(query.namespace, query.metric, query.dimensions, start, end)
                values[query.id] = statistic(raw, query.stat)
            else:
                values[query.id] = query.expression.evaluate(values)
        returned = next((query for query in self.queries if query.return_data), self.queries[-1])
        return values[returned.id]


def reason_for(alarm: Alarm, values: list[float | None], flags: list[bool | None], state: str) -> str:
    """CloudWatch's NewStateReason wording."""
    span = alarm.period / time_scale()
    now = datetime.now(UTC).timestamp()
    shown = [
        f"{value:g} ({datetime.fromtimestamp(now - (len(values) - 1 - i) * span, UTC):%d/%m/%y %H:%M:%S})"
        for i, value in enumerate(values)
        if value is not None
    ]
    words = COMPARISONS[alarm.comparison][1]
    missing = sum(value is None for value in values)
    if state == INSUFFICIENT_DATA:
        return f"Insufficient Data: {len(values)} datapoints were unknown."
    if missing == len(values):
        treated = "Breaching" if alarm.treat_missing == "breaching" else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {missing} periods and {missing} "
            f"missing datapoints were treated as [{treated}]."
        )
    breaching = sum(bool(flag) for flag in flags)
    count = breaching if state == ALARM else len(values) - breaching
    verb = words if state == ALARM else f"not {words}"
    text = (
        f"Threshold Crossed: {count} out of the last {len(values)} datapoints "
        f"[{', '.join(shown) or 'none'}] were {verb} the threshold ({alarm.threshold:g})"
    )
    if missing and alarm.treat_missing in ("breaching", "notBreaching"):
        treated = "Breaching" if alarm.treat_missing == "breaching" else "NonBreaching"
        text += f" and {missing} missing datapoints were treated as [{treated}]"
    return text + f" (minimum {alarm.datapoints_to_alarm} datapoints for OK -> ALARM transition)."
