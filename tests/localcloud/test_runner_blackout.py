"""The local Lambda runner during a blackout of the function's region: a synchronous invocation
is refused without starting an environment, an asynchronous one waits in Lambda's queue (no try
counted) and runs once the region is back, and the warm environments are lost."""

from __future__ import annotations

import threading

import pytest
from test_runner import HANDLER, spec
from waiting import wait_for

from localcloud import runner
from localcloud.runner import LocalFunction, Unavailable

COUNTING = """
import os


def handler(event, context):
    with open(os.path.join(os.path.dirname(__file__), "ran"), "a") as ran:
        ran.write(event["id"] + "\\n")
    return {"id": event["id"]}
"""


def test_a_synchronous_invocation_in_a_blacked_out_region_is_refused_without_a_worker(tmp_path):
    (tmp_path / "probe.py").write_text(HANDLER)
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    function.out = lambda: True
    try:
        with pytest.raises(Unavailable, match="us-east-1 is blacked out"):
            function.invoke({})
        assert function.busy == 0
        assert function.idle == []
    finally:
        function.stop()


def test_an_asynchronous_invocation_waits_for_the_restore_and_then_runs_once(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "OUTAGE_RECHECK_SECONDS", 0.05)
    (tmp_path / "probe.py").write_text(COUNTING)
    out = threading.Event()
    out.set()
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    function.out = out.is_set
    ran = tmp_path / "ran"
    try:
        function.invoke_async({"id": "event-1"})
        # Held while the region is out: look again a few times, as the queue does.
        assert not wait_for(ran.exists, timeout=0.5)
        out.clear()
        assert wait_for(ran.exists, timeout=60), "the held invocation never ran"
        assert wait_for(lambda: function.busy == 0, timeout=30)
    finally:
        function.stop()
    assert ran.read_text() == "event-1\n"


def test_a_blackout_loses_the_warm_environments(tmp_path):
    (tmp_path / "probe.py").write_text(HANDLER)
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    try:
        function.invoke({})
        assert len(function.idle) == 1
        function.lose_environments()
        assert function.idle == []
    finally:
        function.stop()
