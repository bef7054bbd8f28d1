"""The CloudWatch service of the local cloud: every region's metrics, hooked into its functions,
gateways and queues, and its alarms' evaluation, started and stopped together.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from localcloud.cloudwatch.actions import Actions
from localcloud.cloudwatch.alarms import Alarm
from localcloud.cloudwatch.aws_metrics import QueueDepthSampler, api_recorder, lambda_recorder
from localcloud.cloudwatch.emf import emf_tap
from localcloud.cloudwatch.evaluator import AlarmEvaluator
from localcloud.cloudwatch.metric_math import ExpressionError
from localcloud.cloudwatch.metrics import RegionMetrics
from localcloud.graph import Region
from localcloud.settings import time_scale

log = logging.getLogger("localcloud.alarms")


class CloudWatch:
    """Every region's metrics (hooks into functions, gateways and queues) and alarm evaluation."""

    def __init__(
        self,
        regions: Mapping[str, Region],
        find_function: Callable[[str], Any],  # ARN -> LocalFunction | None
        aws_client: Callable[[str, str], Any],  # (service, region) -> a boto3 client for moto
    ) -> None:
        self.scale = time_scale()
        retention = max(3 * 3600 / self.scale, 900.0)  # the dashboard's 3 hours of AWS time
        self.metrics: dict[str, RegionMetrics] = {}
        self.evaluators: dict[str, AlarmEvaluator] = {}
        self.samplers: list[QueueDepthSampler] = []
        for name, region in regions.items():
            graph = region.graph
            metrics = RegionMetrics(name, aws_client("cloudwatch", name), retention)
            self.metrics[name] = metrics
            for function in region.functions.values():
                function.ship_log = emf_tap(function.ship_log, metrics)
                function.on_invocation = lambda_recorder(function.spec.name, metrics)
            for api in region.apis.values():
                api.metric = api_recorder(api.api_id, metrics)
            queues = [
                (q["outputs"]["name"], q["outputs"]["url"]) for q in graph.of_type("aws:sqs/queue:Queue")
            ]
            # Once a minute of AWS time, as SQS pushes its metrics ("at one-minute intervals":
            # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-monitoring-using-cloudwatch.html).
            interval = max(0.25, min(10.0, 60 / self.scale))
            self.samplers.append(QueueDepthSampler(aws_client("sqs", name), queues, metrics, interval))
            subscriptions: dict[str, list[tuple[str, str]]] = {}
            for item in graph.of_type("aws:sns/topicSubscription:TopicSubscription"):
                inputs = item["inputs"]
                if inputs.get("protocol") == "lambda":
                    arn = f"{inputs['topic']}:{uuid.uuid5(uuid.NAMESPACE_URL, item['urn'])}"
                    subscriptions.setdefault(inputs["topic"], []).append((arn, inputs["endpoint"]))
            alarms = []
            for resource in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
                try:
                    alarms.append(Alarm.from_resource(resource, name))
                except (KeyError, ExpressionError) as error:
                    log.warning("alarm %s is not evaluated: %s", resource["name"], error)
            self.evaluators[name] = AlarmEvaluator(
                alarms,
                metrics,
                Actions(find_function, subscriptions, region.deliveries),
                aws_client("cloudwatch", name),
                self.scale,
            )

    def gate(self, out: Callable[[str], bool]) -> None:
        """Stop each region's metric writes, queue sampling and alarm evaluation while `out(region)`
        (it is blacked out)."""
        for name, metrics in self.metrics.items():
            metrics.out = functools.partial(out, name)
            self.evaluators[name].out = functools.partial(out, name)
        for sampler in self.samplers:
            sampler.out = functools.partial(out, sampler.metrics.region)

    def _threads(self) -> list[RegionMetrics | QueueDepthSampler | AlarmEvaluator]:
        """Every thread of the service, in the order they start (evaluators last)."""
        return [*self.metrics.values(), *self.samplers, *self.evaluators.values()]

    def start(self) -> None:
        for thread in self._threads():
            thread.start()

    def stop(self) -> None:
        for thread in reversed(self._threads()):
            thread.stop()
