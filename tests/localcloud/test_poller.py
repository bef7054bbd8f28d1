"""The polling loop: a step that fails is logged and retried; one that fails because the local
cloud is stopping (its services going away under a long poll) ends the loop quietly."""

from __future__ import annotations

import logging
import threading

import pytest
from waiting import wait_for

from localcloud.poller import Poller


def run_until_retried(poller: Poller, calls: list[int], caplog: pytest.LogCaptureFixture, level: int) -> None:
    """Runs the poller, logging at ``level`` captured, until its failing step has been retried."""
    with caplog.at_level(level, logger="localcloud.events"):
        poller.start()
        assert wait_for(lambda: len(calls) >= 2, timeout=10), "no retry after the failed step"
        poller.stop()
        poller.join(timeout=10)


def test_a_failing_step_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise ConnectionError("moto is not answering")

    run_until_retried(Poller("queue-poller", step), calls, caplog, logging.ERROR)
    assert "queue-poller failed; retrying" in caplog.text


def test_a_step_cut_short_by_the_stop_ends_the_loop_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    polling, stopping = threading.Event(), threading.Event()

    def step() -> None:
        polling.set()
        stopping.wait(10)
        raise ConnectionError("moto stopped under a long poll")

    poller = Poller("queue-poller", step)
    with caplog.at_level(logging.ERROR, logger="localcloud.events"):
        poller.start()
        assert polling.wait(10)
        poller.stop()
        stopping.set()
        poller.join(timeout=10)
    assert not poller.is_alive()
    assert "failed" not in caplog.text


def test_a_step_whose_aws_endpoint_does_not_answer_logs_one_line_and_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from botocore.exceptions import ConnectionClosedError

    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise ConnectionClosedError(endpoint_url="http://127.0.0.1:1/")

    run_until_retried(Poller("stream-poller", step), calls, caplog, logging.WARNING)
    warnings = [
        record for record in caplog.records if "stream-poller: no answer, retrying" in record.getMessage()
    ]
    assert warnings
    assert all(record.exc_info is None for record in caplog.records)
