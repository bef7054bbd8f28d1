"""EventBridge delivery in the local cloud: retry policy, then the dead letter queue with
EventBridge's message attributes."""

from __future__ import annotations

from localcloud.eventbridge import DeliveryError, LambdaTarget, deliver_with_retries

RULE = "arn:aws:events:us-east-1:123456789012:rule/bus/page-viewed"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:writer"
DLQ = "arn:aws:sqs:us-east-1:123456789012:dead-letters"
EVENT = {"id": "e-1", "detail-type": "PageViewed", "detail": {"eventId": "x"}}


class FlakyTarget(LambdaTarget):
    def __init__(self, failures: int, *, retriable: bool = True, **settings):
        super().__init__(arn=TARGET, function=None, permitted=True, dead_letter_arn=DLQ, **settings)
        self.failures = failures
        self.retriable = retriable
        self.attempts = 0

    def deliver(self, event):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise DeliveryError("ThrottlingException", "Rate exceeded", retriable=self.retriable)


def run(target, sleep=lambda seconds: None):
    sent = []
    deliver_with_retries(
        target, RULE, EVENT, lambda arn, body, attrs: sent.append((arn, body, attrs)), sleep=sleep
    )
    return sent


def test_event_delivered_after_a_retriable_failure_does_not_reach_the_dead_letter_queue():
    target = FlakyTarget(failures=1, max_attempts=3)
    assert run(target) == []
    assert target.attempts == 2


def test_retries_exhausted_send_the_event_to_the_dead_letter_queue_with_eventbridge_attributes():
    target = FlakyTarget(failures=99, max_attempts=2)
    ((arn, body, attributes),) = run(target)
    assert target.attempts == 3
    assert arn == DLQ
    assert '"detail-type": "PageViewed"' in body
    assert attributes == {
        "RULE_ARN": RULE,
        "TARGET_ARN": TARGET,
        "ERROR_CODE": "ThrottlingException",
        "ERROR_MESSAGE": "Rate exceeded",
        "RETRY_ATTEMPTS": "2",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttemptsExhausted",
    }


def test_retries_back_off_exponentially():
    waits = []
    run(FlakyTarget(failures=99, max_attempts=3), sleep=waits.append)
    assert waits == [1 / 60, 2 / 60, 4 / 60]


def test_event_older_than_the_maximum_age_stops_retrying():
    target = FlakyTarget(failures=99, max_attempts=185, max_age_seconds=0)
    ((_, _, attributes),) = run(target)
    assert target.attempts == 1
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeExceeded"


def test_missing_permission_goes_to_the_dead_letter_queue_without_retries():
    target = LambdaTarget(arn=TARGET, function=object(), permitted=False, dead_letter_arn=DLQ)  # type: ignore[arg-type]
    ((_, _, attributes),) = run(target)
    assert attributes["ERROR_CODE"] == "AccessDeniedException"
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes


def test_missing_function_goes_to_the_dead_letter_queue():
    target = LambdaTarget(arn=TARGET, function=None, permitted=False, dead_letter_arn=DLQ)
    ((_, _, attributes),) = run(target)
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
