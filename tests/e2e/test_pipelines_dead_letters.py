"""Retries and dead letters end to end: a writer that keeps failing is retried as the function's
event invoke config says, lands in the dead letter queue, is recorded, and Slack hears of it."""

from __future__ import annotations

import json
import time

import pytest

from .cloud import http, wait_for

pytestmark = pytest.mark.e2e


def _chaos(cloud, region: str):
    ssm = cloud.aws("ssm", region)
    name = f"/active-active/chaos/{region}"
    return ssm, name, json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def _dead_letter_alert(cloud, token: str, before: int) -> dict | None:
    """Click once; the click's dead letter alert, or None if the writer stored it (it still had
    the old chaos state, which it caches for a few seconds) or nothing came within 30 s."""
    views = cloud.views("us-east-1", token)
    reply = http("POST", f"{cloud.api('us-east-1')}/click", {}, {"authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.body
    event_id = reply.json()["eventId"]

    def outcome() -> tuple[dict | None] | None:
        alert = next((m for m in cloud.inbox()[before:] if event_id in json.dumps(m)), None)
        if alert is not None or cloud.views("us-east-1", token) > views:
            return (alert,)
        return None

    found = wait_for(outcome, timeout=30, interval=0.5)
    assert found, f"click {event_id} was neither stored nor dead-lettered within 30 s"
    return found[0]


def test_failing_writer_sends_the_event_through_retries_to_the_dead_letter_queue_and_slack(cloud):
    ssm, name, state = _chaos(cloud, "us-east-1")
    token = cloud.token("us-east-1", cloud.new_user())
    before = len(cloud.inbox())
    ssm.put_parameter(
        Name=name, Value=json.dumps({**state, "writerFailureRate": 1}), Type="String", Overwrite=True
    )
    try:
        deadline = time.monotonic() + 60
        alert = _dead_letter_alert(cloud, token, before)
        while alert is None and time.monotonic() < deadline:
            alert = _dead_letter_alert(cloud, token, before)
    finally:
        ssm.put_parameter(Name=name, Value=json.dumps(state), Type="String", Overwrite=True)
    assert alert is not None, "no dead letter alert reached Slack"
    assert "Dead event in us-east-1" in alert["text"]
    assert "RetriesExhausted after 3 attempts" in alert["text"]  # 1 try + maximumRetryAttempts 2
    assert "InjectedWriterFailure" in alert["text"]
