"""One Lambda execution environment: a fresh Python interpreter running one function.

Started by ``localcloud.runner`` with the spawn method, so every worker is a cold start: it
sets the function's environment, imports its handler by path (the init phase, timed like
Lambda's ``Init Duration``), then serves invocations one at a time over a pipe. The function's
stdout and stderr become log lines sent to the runner, which ships them to CloudWatch Logs.

Keep this module's imports light: they count towards the measured cold start.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import traceback
from typing import Any


class _LogPipe:
    """A text stream whose complete lines go to the runner as log messages."""

    def __init__(self, conn: Any, lock: threading.Lock) -> None:
        self.conn = conn
        self.lock = lock
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            with self.lock:
                self.conn.send(("log", line))
        return len(text)

    def flush(self) -> None:
        if self.buffer:
            with self.lock:
                self.conn.send(("log", self.buffer))
            self.buffer = ""

    def isatty(self) -> bool:
        return False


class _Context:
    """The parts of Lambda's context object that handlers and Powertools read."""

    def __init__(self, spec: dict[str, Any], request_id: str, deadline: float) -> None:
        self.function_name = spec["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["arn"]
        self.memory_limit_in_mb = spec["memory"]
        self.aws_request_id = request_id
        self.log_group_name = spec["logGroup"]
        self.log_stream_name = spec["logStream"]
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def main(conn: Any, spec: dict[str, Any]) -> None:
    """Worker entry point (a spawned process): init, then serve invocations until told to stop."""
    started = time.perf_counter()
    lock = threading.Lock()
    sys.stdout = _LogPipe(conn, lock)
    sys.stderr = _LogPipe(conn, lock)
    os.environ.clear()
    os.environ.update(spec["environment"])
    for path in reversed(spec["paths"]):
        sys.path.insert(0, path)
    module_name, _, function_name = spec["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # noqa: BLE001 - any import failure is the function's init error
        with lock:
            conn.send(("init_error", _error(error)))
        return
    init_ms = (time.perf_counter() - started) * 1000
    with lock:
        conn.send(("ready", init_ms))
    while True:
        message = conn.recv()
        if message is None:
            return
        request_id, event, timeout = message
        context = _Context(spec, request_id, time.time() + timeout)
        began = time.perf_counter()
        print(f"START RequestId: {request_id} Version: $LATEST")
        try:
            outcome: tuple[str, Any] = ("result", handler(event, context))
        except Exception as error:  # noqa: BLE001 - Lambda reports any exception as a function error
            traceback.print_exc()
            outcome = ("error", _error(error))
        duration = (time.perf_counter() - began) * 1000
        print(f"END RequestId: {request_id}")
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {spec['memory']} MB"
        )
        sys.stdout.flush()
        with lock:
            conn.send(outcome)


def _error(error: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error)[-5:],
    }
