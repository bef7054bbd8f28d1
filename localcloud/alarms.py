"""CloudWatch alarms, locally: every MetricAlarm of each region evaluated as CloudWatch does, with
its actions carried out. moto stores alarms but never evaluates them.

What is evaluated, per alarm: the metric's statistic (Sum, Average, Minimum, Maximum,
SampleCount, pNN) over each of the last ``evaluationPeriods`` periods, or a metric-math
expression over such queries (``IF``, ``ABS``, arithmetic, comparisons, ``AND``/``OR``/``NOT``:
parsed here, never ``eval``'d); each datapoint against the threshold with the comparison operator;
"M out of N" with ``datapointsToAlarm``; missing datapoints as ``treatMissingData`` says. A state
change (OK, ALARM, INSUFFICIENT_DATA; every alarm starts in INSUFFICIENT_DATA, as in AWS) is set
in moto (``set_alarm_state``, so ``describe_alarms`` shows it) and runs the state's actions: an
SNS topic delivers CloudWatch's alarm JSON to its Lambda subscribers, a Lambda function ARN gets
the alarm Lambda-action event. Both are asynchronous invocations.

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

import json
import logging
import operator
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.events import sns_event
from localcloud.metrics import (
    Dimensions,
    QueueDepthSampler,
    RegionMetrics,
    api_recorder,
    dimensions,
    emf_tap,
    lambda_recorder,
    statistic,
)
from localcloud.settings import ACCOUNT, time_scale

log = logging.getLogger("localcloud.alarms")

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}


# Metric math: a tiny parser and evaluator for the expressions alarms use


class ExpressionError(ValueError):
    """A metric-math expression this evaluator does not understand."""


_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>>=|<=|==|!=|&&|\|\||[-+*/()<>,!]))"
)
_COMPARE = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "==": operator.eq}
_COMPARE["!="] = operator.ne
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_KEYWORDS = {"AND": "&&", "OR": "||", "NOT": "!"}

Node = tuple[Any, ...]


class Expression:
    """A parsed metric-math expression over query ids: ``Expression("IF(a > 0, b / a, 0)")``.

    A missing input (None) makes the result missing, as a timestamp absent from a series does;
    so does division by zero. IF evaluates only the branch it takes.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.position = 0
        self.names: set[str] = set()
        self.tree = self._or()
        if self.position != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.position][1]!r} in {text!r}")

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            found = _TOKEN.match(text, position)
            if not found:
                raise ExpressionError(f"unexpected character at {position} in {text!r}")
            kind = found.lastgroup or "op"
            value = found.group(kind)
            if kind == "name" and value.upper() in _KEYWORDS:
                kind, value = "op", _KEYWORDS[value.upper()]
            tokens.append((kind, value))
            position = found.end()
        return tokens

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.text!r}")
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, found {token[1]!r} in {self.text!r}")
        self.position += 1
        return token

    def _binary(self, operators: Iterable[str], operand: Callable[[], Node]) -> Node:
        ops = set(operators)
        node = operand()
        while self._peek() in ops:
            node = ("binary", self._take()[1], node, operand())
        return node

    def _or(self) -> Node:
        return self._binary(["||"], self._and)

    def _and(self) -> Node:
        return self._binary(["&&"], self._not)

    def _not(self) -> Node:
        if self._peek() == "!":
            self._take()
            return ("not", self._not())
        return self._compare()

    def _compare(self) -> Node:
        node = self._sum()
        if self._peek() in _COMPARE:
            node = ("binary", self._take()[1], node, self._sum())
        return node

    def _sum(self) -> Node:
        return self._binary(["+", "-"], self._product)

    def _product(self) -> Node:
        return self._binary(["*", "/"], self._unary)

    def _unary(self) -> Node:
        if self._peek() == "-":
            self._take()
            return ("negate", self._unary())
        return self._primary()

    def _primary(self) -> Node:
        kind, value = self._take()
        if kind == "number":
            return ("number", float(value))
        if value == "(":
            node = self._or()
            self._take(")")
            return node
        if kind != "name":
            raise ExpressionError(f"unexpected {value!r} in {self.text!r}")
        if self._peek() != "(":
            self.names.add(value)
            return ("name", value)
        self._take("(")
        arguments = [self._or()]
        while self._peek() == ",":
            self._take()
            arguments.append(self._or())
        self._take(")")
        function = value.upper()
        if function == "IF" and len(arguments) in (2, 3):
            return ("if", *arguments)
        if function == "ABS" and len(arguments) == 1:
            return ("abs", arguments[0])
        raise ExpressionError(f"unsupported function {value}({len(arguments)} arguments) in {self.text!r}")

    def evaluate(self, values: Mapping[str, float | None]) -> float | None:
        return self._eval(self.tree, values)

    def _eval(self, node: Node, values: Mapping[str, float | None]) -> float | None:
        kind = node[0]
        if kind == "number":
            return node[1]
        if kind == "name":
            if node[1] not in values:
                raise ExpressionError(f"unknown id {node[1]!r} in {self.text!r}")
            return values[node[1]]
        if kind == "if":
            condition = self._eval(node[1], values)
            if condition is None:
                return None
            if condition:
                return self._eval(node[2], values)
            return self._eval(node[3], values) if len(node) > 3 else None
        if kind in ("not", "negate", "abs"):
            operand = self._eval(node[1], values)
            if operand is None:
                return None
            return {"not": float(not operand), "negate": -operand, "abs": abs(operand)}[kind]
        left, right = self._eval(node[2], values), self._eval(node[3], values)
        if left is None or right is None:
            return None
        return _apply(node[1], left, right)


def _apply(op: str, left: float, right: float) -> float | None:
    if op in _COMPARE:
        return float(_COMPARE[op](left, right))
    if op == "&&":
        return float(bool(left) and bool(right))
    if op == "||":
        return float(bool(left) or bool(right))
    if op == "/":
        return left / right if right else None
    return _ARITHMETIC[op](left, right)


# The rules CloudWatch applies


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


# Actions


def _aws_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


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


def trigger(alarm: Alarm) -> dict[str, Any]:
    """The Trigger object of CloudWatch's SNS alarm message."""
    common = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "ComparisonOperator": alarm.comparison,
        "Threshold": alarm.threshold,
        "TreatMissingData": alarm.treat_missing,
        "EvaluateLowSampleCountPercentile": "",
    }
    if alarm.single_metric:
        query = alarm.queries[0]
        percentile = query.stat.lower().startswith("p")
        return {
            "MetricName": query.metric,
            "Namespace": query.namespace,
            "StatisticType": "ExtendedStatistic" if percentile else "Statistic",
            ("ExtendedStatistic" if percentile else "Statistic"): query.stat
            if percentile
            else query.stat.upper(),
            "Unit": None,
            "Dimensions": [{"value": value, "name": name} for name, value in query.dimensions],
            **common,
        }
    metrics = []
    for query in alarm.queries:
        item: dict[str, Any] = {"Id": query.id, "ReturnData": query.return_data}
        if query.expression is not None:
            item["Expression"] = query.expression.text
        else:
            item["MetricStat"] = {
                "Metric": {
                    "Dimensions": [{"value": value, "name": name} for name, value in query.dimensions],
                    "MetricName": query.metric,
                    "Namespace": query.namespace,
                },
                "Period": query.period,
                "Stat": query.stat,
            }
        if query.label:
            item["Label"] = query.label
        metrics.append(item)
    return {**common, "Metrics": metrics}


def sns_message(alarm: Alarm, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an SNS topic on a state change."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": _aws_time(alarm.changed),
        "NewStateValue": alarm.state,
        "NewStateReason": alarm.reason,
        "StateChangeTime": _aws_time(alarm.changed),
        "Region": REGION_NAMES.get(alarm.region, alarm.region),
        "AlarmArn": alarm.arn,
        "OldStateValue": old_state,
        "OKActions": alarm.actions[OK],
        "AlarmActions": alarm.actions[ALARM],
        "InsufficientDataActions": alarm.actions[INSUFFICIENT_DATA],
        "Trigger": trigger(alarm),
    }


def lambda_action_event(alarm: Alarm, old_state: str, old_reason: str, old_time: datetime) -> dict[str, Any]:
    """The event CloudWatch gives a Lambda function that is an alarm action."""
    metrics = []
    for query in alarm.queries:
        item: dict[str, Any] = {"id": query.id, "returnData": query.return_data}
        if query.expression is not None:
            item["expression"] = query.expression.text
            if query.label:
                item["label"] = query.label
        else:
            item["metricStat"] = {
                "metric": {
                    "namespace": query.namespace,
                    "name": query.metric,
                    "dimensions": dict(query.dimensions),
                },
                "period": query.period,
                "stat": query.stat,
            }
        metrics.append(item)
    return {
        "source": "aws.cloudwatch",
        "alarmArn": alarm.arn,
        "accountId": ACCOUNT,
        "time": _aws_time(alarm.changed),
        "region": alarm.region,
        "alarmData": {
            "alarmName": alarm.name,
            "state": {"value": alarm.state, "reason": alarm.reason, "timestamp": _aws_time(alarm.changed)},
            "previousState": {"value": old_state, "reason": old_reason, "timestamp": _aws_time(old_time)},
            "configuration": {"description": alarm.description, "metrics": metrics},
        },
    }


@dataclass
class Actions:
    """Carries out alarm actions: SNS topics to their Lambda subscribers, Lambda functions directly."""

    find_function: Callable[[str], Any]  # ARN -> LocalFunction | None
    subscriptions: dict[str, list[tuple[str, str]]]  # topic ARN -> [(subscription ARN, function ARN)]

    def run(self, alarm: Alarm, arn: str, old_state: str, old_reason: str, old_time: datetime) -> None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "sns":
            message = json.dumps(sns_message(alarm, old_state))
            subject = f'{alarm.state}: "{alarm.name}" in {REGION_NAMES.get(alarm.region, alarm.region)}'
            for subscription, endpoint in self.subscriptions.get(arn, []):
                function = self.find_function(endpoint)
                if function is None:
                    log.warning("SNS subscriber %s of %s is not a local function", endpoint, arn)
                    continue
                function.invoke_async(sns_event(arn, subscription, subject[:100], message))
        elif service == "lambda" and (function := self.find_function(arn)) is not None:
            function.invoke_async(lambda_action_event(alarm, old_state, old_reason, old_time))
        else:
            log.warning("alarm %s: action %s is not emulated", alarm.name, arn)


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


# Wiring: metrics and alarms for every region of the local cloud


class CloudWatch:
    """Every region's metrics (hooks into functions, gateways and queues) and alarm evaluation."""

    def __init__(
        self,
        regions: Mapping[str, Any],  # name -> cloud.Region
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
            self.samplers.append(
                QueueDepthSampler(
                    aws_client("sqs", name), queues, metrics, max(0.25, min(10.0, 30 / self.scale))
                )
            )
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
                Actions(find_function, subscriptions),
                aws_client("cloudwatch", name),
                self.scale,
            )

    def _threads(self) -> list[RegionMetrics | QueueDepthSampler | AlarmEvaluator]:
        """Every thread of the service, in the order they start (evaluators last)."""
        return [*self.metrics.values(), *self.samplers, *self.evaluators.values()]

    def start(self) -> None:
        for thread in self._threads():
            thread.start()

    def stop(self) -> None:
        for thread in reversed(self._threads()):
            thread.stop()
