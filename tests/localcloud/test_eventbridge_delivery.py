"""EventBridge delivery, locally: each event a rule matched reaches every target through the rule's
bounded delivery pool, and stopping the rule's poller ends its pool too."""

from __future__ import annotations

import json
import threading
from typing import Any

from waiting import wait_for

from localcloud.eventbridge import LambdaTarget, RuleTarget, eventbridge_delivery

RULE = "arn:aws:events:us-east-1:123456789012:rule/bus/clicks"


class TapQueue:
    """The rule's tap queue as moto's SQS would answer: each message once, then nothing."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.messages = [{"Body": json.dumps(e), "ReceiptHandle": str(i)} for i, e in enumerate(events)]
        self.deleted: list[str] = []

    def receive_message(self, **request: Any) -> dict[str, Any]:
        messages, self.messages = self.messages, []
        return {"Messages": messages}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


class Function:
    def __init__(self, expected: int) -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.all_arrived = threading.Event()
        self.expected = expected

    def invoke_async(self, event: dict[str, Any]) -> str:
        with self.lock:
            self.events.append(event)
            if len(self.events) == self.expected:
                self.all_arrived.set()
        return "request-id"


def test_every_matched_event_reaches_every_target_and_stop_ends_the_pool():
    events = [{"id": f"event-{n}"} for n in range(20)]
    functions = [Function(len(events)), Function(len(events))]
    targets = [
        LambdaTarget(f"arn:aws:lambda:us-east-1:123456789012:function:f{i}", f, True)
        for i, f in enumerate(functions)
    ]  # type: ignore[arg-type]
    tap = TapQueue(events)
    poller = eventbridge_delivery(tap, RuleTarget(RULE, "tap-url", targets), lambda *message: None)
    poller.start()
    try:
        for function in functions:
            assert function.all_arrived.wait(timeout=30)
    finally:
        poller.stop()
        poller.join(timeout=10)

    for function in functions:
        assert sorted(e["id"] for e in function.events) == sorted(e["id"] for e in events)
    assert sorted(tap.deleted, key=int) == [str(n) for n in range(20)]
    assert not poller.is_alive()
    # The pool's threads end once their last delivery returns.
    pool = lambda: [t for t in threading.enumerate() if t.name.startswith("eventbridge-clicks")]  # noqa: E731
    assert wait_for(lambda: not pool(), timeout=10), "the delivery pool's threads are still running"
