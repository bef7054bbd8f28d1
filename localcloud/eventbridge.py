"""EventBridge delivery, locally: each rule's matched events to its targets, as the deployed
resources configure them.

moto matches events to rules and puts them on each rule's tap queue (see the deployer); here
they are handed to the rule's real targets: Lambda functions are invoked asynchronously, which
needs a resource policy naming the rule. A target that cannot take an event is retried within
its retry policy (exponential backoff; waits compressed by LOCALCLOUD_TIME_SCALE, default 60)
and then sent to its dead letter queue with EventBridge's message attributes. A function that
accepts the event and then fails is Lambda's business: see the runner's async retries.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.poller import Poller
from localcloud.runner import LocalFunction
from localcloud.scheduler import Scheduler
from localcloud.settings import time_scale

log = logging.getLogger("localcloud.events")


# Deliveries of one rule in flight at once (each waits out its own backoff).
DELIVERY_WORKERS = 8


class DeliveryError(Exception):
    """EventBridge could not hand an event to a target."""

    def __init__(self, code: str, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable


@dataclass
class LambdaTarget:
    """One rule target as the EventTarget resource configures it."""

    arn: str
    function: LocalFunction | None
    # EventBridge may invoke the function only with a resource policy naming the rule.
    permitted: bool
    max_attempts: int = 185
    max_age_seconds: int = 86_400
    dead_letter_arn: str | None = None

    def deliver(self, event: dict[str, Any]) -> None:
        if self.function is None:
            raise DeliveryError(
                "ResourceNotFoundException", f"Function not found: {self.arn}", retriable=False
            )
        if not self.permitted:
            raise DeliveryError(
                "AccessDeniedException",
                "EventBridge is not allowed to invoke the function (no resource policy for the rule)",
                retriable=False,
            )
        self.function.invoke_async(event)


@dataclass
class RuleTarget:
    rule_arn: str
    tap_url: str
    targets: list[LambdaTarget]


def deliver_with_retries(
    target: LambdaTarget,
    rule_arn: str,
    event: dict[str, Any],
    send_to_queue: Callable[[str, str, dict[str, Any]], None],
    sleep: Callable[[float], None] = time.sleep,
    scale: float = 60.0,
) -> None:
    """Deliver once, retrying retriable failures with exponential backoff within the target's
    retry policy; what cannot be delivered goes to the target's dead letter queue with the
    message attributes EventBridge sets."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            target.deliver(event)
            return
        except DeliveryError as error:
            failure = error
        age = (time.monotonic() - started) * scale
        condition = ""
        if failure.retriable and attempt > target.max_attempts:
            condition = "MaximumRetryAttemptsExhausted"
        elif failure.retriable and age >= target.max_age_seconds:
            condition = "MaximumEventAgeExceeded"
        if failure.retriable and not condition:
            sleep(min(2 ** (attempt - 1), 300) / scale)
            continue
        break
    if target.dead_letter_arn is None:
        log.warning("dropped event %s for %s: %s", event.get("id"), target.arn, failure)
        return
    attributes = {
        "RULE_ARN": rule_arn,
        "TARGET_ARN": target.arn,
        "ERROR_CODE": failure.code,
        "ERROR_MESSAGE": str(failure),
        "RETRY_ATTEMPTS": str(attempt - 1),
    }
    if condition:
        attributes["EXHAUSTED_RETRY_CONDITION"] = condition
    send_to_queue(target.dead_letter_arn, json.dumps(event), attributes)


def eventbridge_delivery(
    sqs: Any, rule: RuleTarget, send_to_queue: Callable[[str, str, dict[str, Any]], None]
) -> Poller:
    """Hand each event the rule matched to every target, as EventBridge does."""
    scale = time_scale()

    name = rule.rule_arn.rsplit("/", 1)[-1]
    # Deliveries (with their backoff) on a bounded pool, not a thread per event and target.
    deliveries = Scheduler(f"eventbridge-{name}", DELIVERY_WORKERS)

    def deliver(target: LambdaTarget, event: dict[str, Any]) -> None:
        deliver_with_retries(target, rule.rule_arn, event, send_to_queue, scale=scale)

    def step() -> None:
        messages = sqs.receive_message(QueueUrl=rule.tap_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            event = json.loads(message["Body"])
            for target in rule.targets:
                deliveries.submit(deliver, target, event)
            sqs.delete_message(QueueUrl=rule.tap_url, ReceiptHandle=message["ReceiptHandle"])

    return Poller(f"eventbridge {name}", step, deliveries)
