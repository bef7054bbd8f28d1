"""One Lambda execution environment: a fresh interpreter of the runtime's Python running one function.

Started by ``localcloud.runner`` as ``python3.13 -I -S -B worker.py`` (isolated, no site-packages,
no bytecode written, as Lambda's read-only file system writes none), with the function's
environment and its code folder as working directory, so every worker is a cold start. It
reads the function's description as the first line of stdin, imports its handler by path (the
init phase, timed like Lambda's ``Init Duration``), then serves invocations one at a time: one
JSON line in on stdin, JSON lines out. The function's stdout and stderr become log lines
sent to the runner, which ships them to CloudWatch Logs.

This file runs on the runtime's Python with nothing but the standard library and the
function's own paths, so it imports no other module of the local cloud. Keep its imports
light: they count towards the measured cold start.

SnapStart (``"snapStart"`` in the description): the process is the version's snapshot. After
the init it runs the before-snapshot hooks registered with the runtime's ``snapshot_restore_py``
(in reverse order of registration, as Lambda's runtime does:
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html), says
``snapshot`` and waits. Each new environment is a fork of it, restored when the runner sends
a socket for it over the control socket: the fork takes the environment's credentials, runs
the after-restore hooks in order of registration, and serves invocations on that socket.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import traceback
from typing import Any


class _Channel:
    """The runner's end: JSON lines, one message each, written whole under a lock (a function's
    threads may log while it answers)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.lock = threading.Lock()

    def send(self, kind: str, value: Any) -> None:
        line = json.dumps([kind, value]).encode() + b"\n"
        with self.lock:
            self.out.write(line)
            self.out.flush()


class _LogPipe:
    """A text stream whose complete lines go to the runner as log messages."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.channel.send("log", line)
        return len(text)

    def flush(self) -> None:
        if self.buffer:
            self.channel.send("log", self.buffer)
            self.buffer = ""

    def isatty(self) -> bool:
        return False


class _Context:
    """The parts of Lambda's context object that handlers and Powertools read."""

    def __init__(self, spec: dict[str, Any], request_id: str, deadline: float) -> None:
        self.function_name = spec["name"]
        self.function_version = spec.get("version", "$LATEST")
        self.invoked_function_arn = spec.get("invokedArn", spec["arn"])
        self.memory_limit_in_mb = spec["memory"]
        self.aws_request_id = request_id
        self.log_group_name = spec["logGroup"]
        self.log_stream_name = spec["logStream"]
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def main() -> None:
    """Init, then serve invocations until stdin closes or says ``null`` (with SnapStart: wait as
    the snapshot, restoring environments from it)."""
    started = time.perf_counter()
    requests = sys.stdin.buffer
    # Messages go out on a copy of stdout; what C code writes to fd 1 goes to stderr instead,
    # so it cannot corrupt a message.
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)
    pipes = (_LogPipe(channel), _LogPipe(channel))
    sys.stdout, sys.stderr = pipes
    spec = json.loads(requests.readline())
    sys.path[:0] = spec["paths"]
    module_name, _, function_name = spec["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        if spec.get("snapStart"):
            _run_hooks("before_snapshot")
    except Exception as error:  # noqa: BLE001 - any import failure is the function's init error
        channel.send("init_error", _error(error))
        return
    if spec.get("snapStart"):
        channel.send("snapshot", (time.perf_counter() - started) * 1000)
        _restore_environments(spec, handler, requests, pipes)
        return
    channel.send("ready", (time.perf_counter() - started) * 1000)
    _serve(spec, handler, requests, channel)


def _run_hooks(kind: str) -> None:
    """The runtime hooks registered with snapshot_restore_py, as Lambda's runtime runs them."""
    try:
        import snapshot_restore_py  # type: ignore[import-not-found]
    except ImportError:
        return
    if kind == "before_snapshot":
        hooks = snapshot_restore_py.get_before_snapshot()
        while hooks:  # the reverse order of registration
            func, args, kwargs = hooks.pop()
            func(*args, **kwargs)
    else:
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)


def _restore_environments(spec: dict[str, Any], handler: Any, requests: Any, pipes: tuple) -> None:
    """The snapshot's loop: one fork per restore request, until the runner closes the control socket."""
    import signal  # here: a plain worker's cold start does not pay for them
    import socket

    control = socket.socket(fileno=spec["control"])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the environments
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1 << 16, 1)
        if not message or not fds:
            return
        restore = json.loads(message)
        began = time.perf_counter()
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            requests.close()
            connection = socket.socket(fileno=fds[0])
            channel = _Channel(connection.makefile("wb"))
            pipes[0].channel.out.close()  # the snapshot's own channel stays the snapshot's
            for pipe in pipes:  # Powertools' handlers hold these streams: point them at the new channel
                pipe.channel = channel
            os.environ.update(restore["environment"])
            spec = {**spec, "logStream": restore["logStream"]}
            try:
                _run_hooks("after_restore")
            except Exception as error:  # noqa: BLE001 - a failed hook fails the restore
                channel.send("init_error", _error(error))
                os._exit(1)
            channel.send("ready", {"ms": (time.perf_counter() - began) * 1000, "pid": os.getpid()})
            _serve(spec, handler, connection.makefile("rb"), channel)
            os._exit(0)
        os.close(fds[0])


def _serve(spec: dict[str, Any], handler: Any, requests: Any, channel: _Channel) -> None:
    for line in requests:
        message = json.loads(line)
        if message is None:
            return
        request_id, event, timeout = message
        context = _Context(spec, request_id, time.time() + timeout)
        began = time.perf_counter()
        print(f"START RequestId: {request_id} Version: {context.function_version}")
        kind, value = _answer(handler, event, context)
        duration = (time.perf_counter() - began) * 1000
        print(f"END RequestId: {request_id}")
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {spec['memory']} MB"
        )
        sys.stdout.flush()
        try:
            channel.send(kind, value)  # serialized once; nothing is written if it fails
        except (TypeError, ValueError) as error:  # a result that is not JSON, as Lambda reports it
            marshal = f"Unable to marshal response: {error}"
            channel.send(
                "error", {"errorType": "Runtime.MarshalError", "errorMessage": marshal, "stackTrace": []}
            )


def _answer(handler: Any, event: Any, context: _Context) -> tuple[str, Any]:
    """The handler's result, or its error."""
    try:
        result = handler(event, context)
    except Exception as error:  # noqa: BLE001 - Lambda reports any exception as a function error
        traceback.print_exc()
        return "error", _error(error)
    return "result", result


def _error(error: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error)[-5:],
    }


if __name__ == "__main__":
    main()
