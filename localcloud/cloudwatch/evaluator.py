"""One region's alarms, evaluated on a timer: each alarm is stored in moto, and each state change is
set in moto (``set_alarm_state``, so ``describe_alarms`` shows it) and runs the state's actions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.cloudwatch.actions import Actions
from localcloud.cloudwatch.alarms import ALARM, INSUFFICIENT_DATA, OK, Alarm, breaches, decide, reason_for
from localcloud.cloudwatch.metrics import RegionMetrics

log = logging.getLogger("localcloud.alarms")


class AlarmEvaluator(threading.Thread):
    """One region's alarms, evaluated every `interval` seconds; state changes run actions."""

    def __init__(
        self,
        alarms: list[Alarm],
        metrics: RegionMetrics,
        actions: Actions,
        cloudwatch: Any,
        scale: float,
        interval: float = 0.5,
    ) -> None:
        super().__init__(name=f"alarms-{metrics.region}", daemon=True)
        self.alarms = alarms
        self.metrics = metrics
        self.actions = actions
        self.cloudwatch = cloudwatch
        self.scale = scale
        self.interval = interval
        self.stopped = threading.Event()
        # Whether the region is blacked out (set by the local cloud): no alarm is evaluated.
        self.out: Callable[[], bool] = lambda: False

    def register(self) -> None:
        """Store each alarm in moto, so that set_alarm_state and describe_alarms work."""
        for alarm in self.alarms:
            try:
                self.cloudwatch.put_metric_alarm(**_put_arguments(alarm))
            except Exception:
                log.exception("could not store alarm %s in moto", alarm.name)

    def run(self) -> None:
        self.register()
        while not self.stopped.wait(self.interval):
            if not self.out():
                self.evaluate(time.time())

    def evaluate(self, now: float) -> None:
        for alarm in self.alarms:
            try:
                values = alarm.datapoints(self.metrics, now, self.scale)
                flags = breaches(values, alarm.comparison, alarm.threshold)
                state = decide(flags, alarm.datapoints_to_alarm, alarm.treat_missing, alarm.state)
                if state != alarm.state:
                    self.transition(alarm, state, reason_for(alarm, values, flags, state))
            except Exception:
                log.exception("could not evaluate alarm %s", alarm.name)

    def transition(self, alarm: Alarm, state: str, reason: str) -> None:
        old_state, old_reason, old_time = alarm.state, alarm.reason, alarm.changed
        alarm.state, alarm.reason, alarm.changed = state, reason, datetime.now(UTC)
        log.info("alarm %s: %s -> %s", alarm.name, old_state, state)
        try:
            self.cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=state, StateReason=reason[:1023])
        except Exception:
            log.exception("could not set the state of %s in moto", alarm.name)
        for arn in alarm.actions[state]:
            self.actions.run(alarm, arn, old_state, old_reason, old_time)

    def stop(self) -> None:
        self.stopped.set()


def _put_arguments(alarm: Alarm) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison,
        "TreatMissingData": alarm.treat_missing,
        "AlarmActions": alarm.actions[ALARM],
        "OKActions": alarm.actions[OK],
        "InsufficientDataActions": alarm.actions[INSUFFICIENT_DATA],
    }
    if alarm.single_metric:
        query = alarm.queries[0]
        percentile = query.stat.lower().startswith("p")
        arguments |= {
            "Namespace": query.namespace,
            "MetricName": query.metric,
            "Dimensions": [{"Name": name, "Value": value} for name, value in query.dimensions],
            "Period": alarm.period,
            ("ExtendedStatistic" if percentile else "Statistic"): query.stat,
        }
        return arguments
    arguments["Metrics"] = [
        {"Id": q.id, "Expression": q.expression.text, "ReturnData": q.return_data, "Label": q.label or q.id}
        if q.expression is not None
        else {
            "Id": q.id,
            "ReturnData": q.return_data,
            "MetricStat": {
                "Metric": {
                    "Namespace": q.namespace,
                    "MetricName": q.metric,
                    "Dimensions": [{"Name": name, "Value": value} for name, value in q.dimensions],
                },
                "Period": q.period,
                "Stat": q.stat,
            },
        }
        for q in alarm.queries
    ]
    return arguments
