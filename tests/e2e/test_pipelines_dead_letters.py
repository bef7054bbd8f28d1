"""Retries and dead letters end to end: a writer that keeps failing is retried as the function's
event invoke config says, lands in the dead letter queue, is recorded, and Slack hears of it."""

from __future__ import annotations

import json
import time

import pytest

from .cloud import http

pytestmark = pytest.mark.e2e


def _chaos(cloud, region: str):
    ssm = cloud.aws("ssm", region)
    name = f"/active-active/chaos/{region}"
    return ssm, name, json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def test_failing_writer_sends_the_event_through_retries_to_the_dead_letter_queue_and_slack(cloud):
    ssm, name, state = _chaos(cloud, "us-east-1")
    ssm.put_parameter(
        Name=name, Value=json.dumps({**state, "writerFailureRate": 1}), Type="String", Overwrite=True
    )
    try:
        time.sleep(4)  # the writer caches chaos state for at most 3 s
        token = cloud.token("us-east-1")
        before = len(cloud.inbox())
        reply = http("POST", f"{cloud.api('us-east-1')}/click", {}, {"authorization": f"Bearer {token}"})
        assert reply.status == 200, reply.body
        event_id = reply.json()["eventId"]
        deadline = time.monotonic() + 30
        alert = None
        while time.monotonic() < deadline and alert is None:
            alert = next((m for m in cloud.inbox()[before:] if event_id in json.dumps(m)), None)
            time.sleep(0.5)
    finally:
        ssm.put_parameter(Name=name, Value=json.dumps(state), Type="String", Overwrite=True)
    assert alert is not None, "no dead letter alert reached Slack within 30 s"
    assert "Dead event in us-east-1" in alert["text"]
    assert "RetriesExhausted after 3 attempts" in alert["text"]  # 1 try + maximumRetryAttempts 2
    assert "InjectedWriterFailure" in alert["text"]
