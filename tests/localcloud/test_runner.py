"""The local Lambda runner: a worker's context names the log stream its lines are shipped to; an
asynchronous invocation that keeps failing is retried, then sent to its on-failure destination;
idle workers are stopped, and the next invocation is a cold start; a worker runs with its
execution role's credentials and is retired before they expire; a SnapStart version is
initialized once and each environment is a fork of that snapshot that ran the after-restore hooks."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest
from waiting import wait_for

from components import bytecode
from localcloud import runner
from localcloud.iam.principals import Credentials
from localcloud.runner import FunctionError, FunctionSpec, GaveUp, LocalFunction

HANDLER = """
def handler(event, context):
    print("hello from the handler")
    return {"stream": context.log_stream_name, "group": context.log_group_name}
"""


SLOW = """
import time


def handler(event, context):
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}
"""


FAILING = """
def handler(event, context):
    raise RuntimeError("always fails")
"""


def spec(tmp_path, **changes) -> FunctionSpec:
    return FunctionSpec(
        **{
            "name": "probe",
            "arn": "arn:aws:lambda:us-east-1:123456789012:function:probe",
            "source": "probe",
            "region": "us-east-1",
            "handler": "probe.handler",
            "paths": [str(tmp_path)],
            "python": sys.executable,
            "environment": {},
            "timeout": 30,
            "memory": 128,
            "log_group": "/aws/lambda/probe",
            **changes,
        }
    )


def test_the_context_names_the_log_stream_its_lines_go_to(tmp_path):
    (tmp_path / "probe.py").write_text(HANDLER)
    shipped: list[tuple[str, str, str]] = []
    function = LocalFunction(spec(tmp_path), lambda *line: shipped.append(line), lambda url, body: None)
    try:
        answer = function.invoke({})
    finally:
        function.stop()

    assert answer["group"] == "/aws/lambda/probe"
    streams = {stream for group, stream, line in shipped if "hello from the handler" in line}
    assert streams == {answer["stream"]}, json.dumps(shipped)[:500]


def test_a_failing_async_invocation_is_retried_then_sent_to_its_on_failure_destination(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "retry_delay", lambda attempt: 0.01)
    (tmp_path / "probe.py").write_text(FAILING)
    sent: list[tuple[str, str]] = []
    arrived = threading.Event()
    destination = "arn:aws:sqs:us-east-1:123456789012:dead-letters"

    def send_to_queue(arn: str, body: str) -> None:
        sent.append((arn, body))
        arrived.set()

    function = LocalFunction(
        spec(tmp_path, on_failure=destination, max_retries=2), lambda *line: None, send_to_queue
    )
    try:
        function.invoke_async({"id": "event-1"})
        assert arrived.wait(timeout=60), "nothing reached the on-failure destination"
    finally:
        function.stop()

    [(arn, body)] = sent
    record = json.loads(body)
    assert arn == destination
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"id": "event-1"}
    assert record["responsePayload"]["errorMessage"] == "always fails"


def test_an_idle_worker_is_stopped_and_the_next_invocation_is_a_cold_start(tmp_path):
    (tmp_path / "probe.py").write_text(HANDLER)
    invocations: list[runner.Invocation] = []
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    function.on_invocation = invocations.append
    try:
        function.invoke({})
        function.invoke({})
        [warm] = function.idle
        assert function.reap(idle_for=600) == 0  # not idle long enough
        assert function.reap(idle_for=600, now=warm.idle_since + 601) == 1
        assert function.idle == []
        assert not warm.alive()
        function.invoke({})
    finally:
        function.stop()

    assert [i.cold_start_ms is not None for i in invocations] == [True, False, True]


def test_a_caller_out_of_patience_gets_gave_up_and_the_warm_invocation_runs_on_to_its_end(tmp_path):
    (tmp_path / "probe.py").write_text(SLOW)
    invocations: list[runner.Invocation] = []
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    function.on_invocation = invocations.append
    try:
        assert function.invoke({"seconds": 0}, patience=30) == {"slept": 0}  # cold: on a helper thread
        assert function.invoke({"seconds": 0}, patience=30) == {"slept": 0}  # warm: in this thread
        with pytest.raises(GaveUp):
            function.invoke({"seconds": 1.5}, patience=0.2)
        # Given up at its patience, not at the answer: the invocation is not over, its worker busy.
        assert len(invocations) == 2
        assert function.busy == 1
        ended = wait_for(lambda: len(invocations) == 3 and function.busy == 0, timeout=30)
        assert ended, "the invocation given up on never ended, or its worker was never released"
        assert invocations[2].error is None and invocations[2].duration_ms >= 1500
        assert function.invoke({"seconds": 0}, patience=30) == {"slept": 0}
    finally:
        function.stop()

    assert [i.cold_start_ms is not None for i in invocations] == [True, False, False, False]


def test_a_cold_start_that_outlasts_the_callers_patience_gives_up_and_the_worker_stays_warm(tmp_path):
    (tmp_path / "probe.py").write_text(SLOW)
    invocations: list[runner.Invocation] = []
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    function.on_invocation = invocations.append
    try:
        with pytest.raises(GaveUp):
            function.invoke({"seconds": 1.0}, patience=0.1)
        assert wait_for(lambda: len(invocations) == 1, timeout=30), "the cold invocation never ended"
        assert function.invoke({"seconds": 0}, patience=30) == {"slept": 0}
    finally:
        function.stop()

    assert [i.cold_start_ms is not None for i in invocations] == [True, False]


def test_the_runner_reaps_idle_workers_on_its_own(tmp_path):
    (tmp_path / "probe.py").write_text(HANDLER)
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    functions = runner.Runner(idle_for=1.0)
    functions.add(function)
    functions.start()
    try:
        function.invoke({})
        [warm] = function.idle
        # The reaper takes the worker off the idle list, then stops its process: wait for both.
        reaped = wait_for(lambda: not function.idle and not warm.alive(), timeout=30)
        assert reaped, "the idle worker was not reaped and stopped"
    finally:
        functions.stop()
    assert not functions.reaper.is_alive()


NOT_JSON = """
def handler(event, context):
    return {"seen": {1, 2}}
"""

REPORTS_ITS_PYTHON = """
import sys

def handler(event, context):
    flags = sys.flags
    return {
        "version": list(sys.version_info[:2]),
        "path": sys.path,
        "flags": [flags.isolated, flags.no_site, flags.dont_write_bytecode],
    }
"""


def test_a_result_that_is_not_json_is_a_marshal_error_as_in_lambda(tmp_path):
    (tmp_path / "probe.py").write_text(NOT_JSON)
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    try:
        with pytest.raises(FunctionError) as failure:
            function.invoke({})
    finally:
        function.stop()
    assert failure.value.payload["errorType"] == "Runtime.MarshalError"
    assert "not JSON serializable" in failure.value.payload["errorMessage"]


@pytest.mark.skipif(bytecode.interpreter("python3.13") is None, reason="no python3.13 interpreter here")
def test_a_worker_runs_on_the_runtime_python_with_only_the_function_paths_and_writes_no_bytecode(tmp_path):
    (tmp_path / "probe.py").write_text(REPORTS_ITS_PYTHON)
    python = bytecode.interpreter("python3.13")
    function = LocalFunction(spec(tmp_path, python=python), lambda *line: None, lambda url, body: None)
    try:
        answer = function.invoke({})
    finally:
        function.stop()
    assert answer["version"] == [3, 13]
    assert answer["flags"] == [1, 1, 1]
    assert answer["path"][0] == str(tmp_path)
    assert not any("site-packages" in path or ".venv" in path for path in answer["path"]), answer["path"]
    assert not (tmp_path / "__pycache__").exists()


PROCESS_GROUP = """
import os

def handler(event, context):
    return {"pid": os.getpid(), "group": os.getpgrp()}
"""


def test_a_worker_has_a_process_group_of_its_own_which_a_terminals_ctrl_c_does_not_reach(tmp_path):
    (tmp_path / "probe.py").write_text(PROCESS_GROUP)
    function = LocalFunction(spec(tmp_path), lambda *line: None, lambda url, body: None)
    try:
        answer = function.invoke({})
    finally:
        function.stop()
    assert answer["group"] == answer["pid"]
    assert answer["group"] != os.getpgrp()


CREDENTIALS = """
import os

NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

def handler(event, context):
    return {name: os.environ.get(name) for name in NAMES}
"""


def _issued(seconds: float) -> Credentials:
    return Credentials("ASIAROLE", "secret", "token", time.time() + seconds)


def test_a_worker_runs_with_its_execution_role_credentials(tmp_path):
    (tmp_path / "probe.py").write_text(CREDENTIALS)
    function = LocalFunction(spec(tmp_path, credentials=lambda: _issued(3600)), lambda *line: None, print)
    try:
        answer = function.invoke({})
    finally:
        function.stop()

    assert answer == {
        "AWS_ACCESS_KEY_ID": "ASIAROLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
    }


def test_a_warm_worker_whose_credentials_are_about_to_expire_is_retired(tmp_path):
    (tmp_path / "probe.py").write_text(CREDENTIALS)
    issued = iter([_issued(runner.CREDENTIALS_MARGIN_SECONDS), _issued(3600)])
    function = LocalFunction(spec(tmp_path, credentials=lambda: next(issued)), lambda *line: None, print)
    try:
        function.invoke({})
        assert function.reap(idle_for=3600) == 1  # not idle for long: retired for its credentials
        assert function.invoke({})["AWS_ACCESS_KEY_ID"] == "ASIAROLE"
        assert function.reap(idle_for=3600) == 0
    finally:
        function.stop()


def test_a_role_lambda_cannot_assume_fails_the_invocation(tmp_path):
    (tmp_path / "probe.py").write_text(CREDENTIALS)

    def refused() -> Credentials:
        raise RuntimeError("AccessDenied")

    function = LocalFunction(spec(tmp_path, credentials=refused), lambda *line: None, print)
    try:
        with pytest.raises(FunctionError) as failed:
            function.invoke({})
    finally:
        function.stop()
    assert failed.value.payload["errorType"] == "InvalidParameterValueException"


# SnapStart: the handler counts its inits in a file, registers both hooks with the runtime's
# snapshot_restore_py, and reports what each environment saw.
SNAPSTARTED = """
import os
import random
from pathlib import Path

from snapshot_restore_py import register_after_restore, register_before_snapshot

INITS = Path(os.environ["INITS_FILE"])
INITS.write_text(INITS.read_text() + "init\\n" if INITS.exists() else "init\\n")
dice = random.Random(42)  # the state the snapshot captures
seen = {"before": 0, "after": 0}

@register_before_snapshot
def before():
    seen["before"] += 1

@register_after_restore
def after():
    seen["after"] += 1
    dice.seed(os.urandom(16))

def handler(event, context):
    return {
        "pid": os.getpid(),
        "draw": dice.random(),
        "seen": dict(seen),
        "version": context.function_version,
        "invoked": context.invoked_function_arn,
        "key": os.environ.get("AWS_ACCESS_KEY_ID"),
    }
"""
LIVE = "arn:aws:lambda:us-east-1:123456789012:function:probe:live"


def _snapstarted(tmp_path, **changes) -> LocalFunction:
    from localcloud import runtimes

    (tmp_path / "probe.py").write_text(SNAPSTARTED)
    keys = iter(f"ASIAROLE{n}" for n in range(10))
    return LocalFunction(
        spec(
            tmp_path,
            paths=[str(tmp_path), str(runtimes.prepare("python3.13").sdk)],
            environment={"INITS_FILE": str(tmp_path / "inits.txt")},
            version="7",
            invoked_arn=LIVE,
            snap_start=True,
            credentials=lambda: Credentials(next(keys), "secret", "token", time.time() + 3600),
            **changes,
        ),
        lambda *line: None,
        print,
    )


def test_a_snapstart_version_is_initialized_once_and_each_environment_restored_from_it(tmp_path):
    function = _snapstarted(tmp_path)
    invocations: list[runner.Invocation] = []
    function.on_invocation = invocations.append
    try:
        first = function.invoke({})
        [warm] = function.idle
        assert function.reap(idle_for=600, now=warm.idle_since + 601) == 1
        second = function.invoke({})
    finally:
        function.stop()

    assert (tmp_path / "inits.txt").read_text() == "init\n"  # one init, for the version
    assert first["pid"] != second["pid"]
    # Each restored environment ran the after-restore hooks once, after the one before-snapshot run.
    assert first["seen"] == second["seen"] == {"before": 1, "after": 1}
    assert first["draw"] != second["draw"]  # re-seeded: the snapshot's generator state is not shared
    assert (first["version"], first["invoked"]) == ("7", LIVE)
    # Every environment has its own credentials, not the snapshot's.
    assert first["key"] != second["key"]
    assert all(i.cold_start_ms is not None for i in invocations)


def test_layers_merge_into_one_opt_as_lambda_merges_them_in_order(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for layer, files in {
        first: {"python/shared.py": "first", "python/package/module.py": "first", "python/alone/a.py": "1"},
        second: {"python/shared.py": "second", "python/package/__pycache__/module.pyc": "second"},
    }.items():
        for name, text in files.items():
            (layer / name).parent.mkdir(parents=True, exist_ok=True)
            (layer / name).write_text(text)
    opt = runner.merge_layers([first, second], tmp_path / "code")
    python = opt / "python"
    assert (python / "shared.py").read_text() == "second"  # the later layer's file wins
    assert (python / "package" / "module.py").read_text() == "first"  # folders merge
    assert (python / "package" / "__pycache__" / "module.pyc").read_text() == "second"
    assert (python / "alone" / "a.py").read_text() == "1"
    assert runner.merge_layers([first, second], tmp_path / "code") == opt  # made once
    assert runner.merge_layers([second, first], tmp_path / "code") != opt
    assert (
        runner.merge_layers([second, first], tmp_path / "code") / "python" / "shared.py"
    ).read_text() == "first"


def test_an_unused_snapshot_is_stopped_after_the_idle_time_and_taken_again_when_needed(tmp_path):
    function = _snapstarted(tmp_path)
    try:
        function.invoke({})
        [warm] = function.idle
        later = warm.idle_since + 601
        # An environment is left: the snapshot stays.
        assert not function.reap_snapshot(idle_for=600, now=later)
        assert function.reap(idle_for=600, now=later) == 1
        assert function.reap_snapshot(idle_for=600, now=later)
        assert function.snapshot is None
        function.invoke({})  # a new snapshot: its init runs again
    finally:
        function.stop()
    assert (tmp_path / "inits.txt").read_text() == "init\ninit\n"
