"""Lambda, locally: each function runs in its own worker processes (``localcloud.worker``).

- Code and layers come from the Function resource's archives; the environment from its
  variables, plus the local endpoint and region, and credentials of its execution role taken
  when the worker starts (``localcloud.iam.principals``); a warm worker is retired before they
  expire, as Lambda renews an environment's credentials.
- A worker is a fresh interpreter of the runtime's Python (``localcloud.runtimes``), started
  by the invocation that needs it: its first invocation is a real cold start, logged with its
  init duration. Workers are reused while warm and
  stopped after ``LOCALCLOUD_WORKER_IDLE_SECONDS`` without an invocation, as Lambda stops idle
  execution environments after some minutes.
- The function's timeout is enforced (the worker is killed, like a timed-out sandbox).
- Reserved concurrency caps the workers; a synchronous call beyond it is throttled (429).
- A synchronous caller may stop waiting (``patience``: API Gateway's integration timeout): it gets
  ``GaveUp`` then, and the invocation runs on to its end, as a function does in Lambda. A warm
  worker's answer is read in the caller's own thread, so the answer reaches it with no hand-off.
- Asynchronous invocations are queued, retried as the function's event invoke config says,
  and sent to its on-failure destination when retries are exhausted.
- Log lines go to the function's CloudWatch Logs group in moto.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud import worker
from localcloud.iam.principals import Credentials, expiring
from localcloud.scheduler import Scheduler
from localcloud.settings import time_scale, worker_idle_seconds

DEFAULT_CONCURRENCY = 4
# A warm worker is retired when its credentials have less than its timeout and this left.
CREDENTIALS_MARGIN_SECONDS = 300.0
WORKER = Path(worker.__file__).resolve()


class Throttled(Exception):
    """Reserved concurrency is exhausted (Lambda's TooManyRequestsException)."""


class GaveUp(Exception):
    """The caller stopped waiting for the answer (its patience ran out); the invocation runs on."""


class _StillRunning(Exception):
    """The caller's patience ran out before the function's timeout: the answer is still due."""


class FunctionError(Exception):
    """The function raised, failed to initialise, or timed out."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "function error"))
        self.payload = payload


@dataclass
class FunctionSpec:
    name: str
    arn: str
    source: str  # the folder under functions/, for logs and metrics
    region: str
    handler: str
    paths: list[str]  # the code, then the layers, then the runtime's own libraries
    python: str  # the runtime's interpreter
    environment: dict[str, str]
    timeout: float
    memory: int
    log_group: str
    reserved_concurrency: int | None = None
    max_retries: int = 2
    on_failure: str | None = None  # SQS queue ARN
    # The execution role's credentials for a new worker (sts:AssumeRole); None: the environment's.
    credentials: Callable[[], Credentials] | None = None


@dataclass
class Invocation:
    function: str
    request_id: str
    duration_ms: float
    cold_start_ms: float | None
    error: dict[str, Any] | None = None
    throttled: bool = False


def log_stream_name() -> str:
    """A new execution environment's log stream, named as Lambda names them."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


class _Worker:
    """One execution environment: a worker process (``localcloud.worker``) and its pipes."""

    def __init__(self, spec: FunctionSpec, stream: str, log: Callable[[str], None]) -> None:
        self.spec = spec
        self.log = log
        self.stream = stream  # the context's log_stream_name: where its lines go
        self.idle_since = time.monotonic()
        self.buffer = b""
        description = {
            "name": spec.name,
            "arn": spec.arn,
            "memory": spec.memory,
            "logGroup": spec.log_group,
            "logStream": self.stream,
            "handler": spec.handler,
            "paths": spec.paths,
        }
        # Lambda has the role's credentials before the environment starts: not part of its init.
        self.credentials = _role_credentials(spec)
        started = time.perf_counter()
        environment = {**spec.environment, **(self.credentials.environment() if self.credentials else {})}
        # Lambda runs the handler with /var/task, the function's code, as working directory.
        self.process = subprocess.Popen(  # noqa: S603 - the runtime's interpreter and our worker
            [spec.python, "-I", "-S", "-B", str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            cwd=spec.paths[0],
        )
        self._send(description)
        kind, value = self._receive(started + spec.timeout + 10)
        if kind == "init_error":
            self.stop()
            raise FunctionError(value)
        self.cold_start_ms = (time.perf_counter() - started) * 1000
        self.log(
            f"INIT_REPORT Init Duration: {value:.2f} ms (process start to ready: {self.cold_start_ms:.2f} ms)"
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def expiring(self) -> bool:
        """Whether its credentials could expire during its next invocation (or soon after)."""
        return expiring(self.credentials, self.spec.timeout + CREDENTIALS_MARGIN_SECONDS)

    def _send(self, message: Any) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError) as error:
            raise _exited() from error

    def _receive(self, deadline: float) -> tuple[str, Any]:
        """The next non-log message, forwarding log lines; raises TimeoutError at the deadline."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                kind, value = json.loads(line)
                if kind != "log":
                    return kind, value
                self.log(value)
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _exited()
            self.buffer += chunk

    def invoke(self, event: Any, request_id: str, give_up_at: float | None = None) -> Any:
        """The function's answer; _StillRunning (with its deadline) if ``give_up_at`` comes first."""
        self._send([request_id, event, self.spec.timeout])
        return self.answer(request_id, time.perf_counter() + self.spec.timeout, give_up_at)

    def answer(self, request_id: str, deadline: float, give_up_at: float | None = None) -> Any:
        try:
            kind, value = self._receive(deadline if give_up_at is None else min(deadline, give_up_at))
        except TimeoutError:
            if give_up_at is not None and give_up_at < deadline:
                raise _StillRunning(deadline) from None
            self.stop()
            message = f"Task timed out after {self.spec.timeout:.2f} seconds"
            self.log(f"{datetime.now(UTC).isoformat()} {request_id} {message}")
            raise FunctionError({"errorType": "Sandbox.Timedout", "errorMessage": message}) from None
        if kind == "error":
            raise FunctionError(value)
        return value

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError, FunctionError):
            self._send(None)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=1)


def _role_credentials(spec: FunctionSpec) -> Credentials | None:
    """The execution role's credentials; a role Lambda cannot assume fails the invocation with
    the error CreateFunction gives for it in AWS."""
    if spec.credentials is None:
        return None
    try:
        return spec.credentials()
    except Exception as error:  # botocore's ClientError, or moto unreachable
        message = f"The role defined for the function cannot be assumed by Lambda. ({error})"
        raise FunctionError(
            {"errorType": "InvalidParameterValueException", "errorMessage": message}
        ) from error


def _exited() -> FunctionError:
    return FunctionError({"errorType": "Runtime.ExitError", "errorMessage": "worker exited"})


class LocalFunction:
    """A function's pool of warm workers, its async queue, and its logs."""

    def __init__(
        self,
        spec: FunctionSpec,
        ship_log: Callable[[str, str, str], None],
        send_to_queue: Callable[[str, str], None],
    ) -> None:
        self.spec = spec
        self.ship_log = ship_log
        self.send_to_queue = send_to_queue
        self.idle: list[_Worker] = []
        self.busy = 0
        self.lock = threading.Condition()
        self.cap = spec.reserved_concurrency or DEFAULT_CONCURRENCY
        # Asynchronous invocations and their retries, at most as many at once as the function's
        # concurrency (more would only wait for a worker).
        self.async_calls = Scheduler(f"async-{spec.source}", self.cap)
        self.async_calls.start()
        # Told of every invocation and throttle (the local cloud's AWS/Lambda metrics).
        self.on_invocation: Callable[[Invocation], None] = lambda invocation: None

    def _log(self, worker_stream: str) -> Callable[[str], None]:
        return lambda line: self.ship_log(self.spec.log_group, worker_stream, line)

    def _acquire(self, wait: bool) -> tuple[_Worker | None, bool]:
        with self.lock:
            while True:
                # A worker that died while idle is gone, as Lambda discards a failed sandbox.
                self.idle = [worker for worker in self.idle if worker.alive()]
                if self.idle:
                    self.busy += 1
                    return self.idle.pop(), False
                if self.busy < self.cap:
                    self.busy += 1
                    return None, True
                if not wait:
                    raise Throttled(f"Rate Exceeded: {self.spec.name} is at its concurrency of {self.cap}")
                self.lock.wait(timeout=1)

    def _release(self, current: _Worker | None) -> None:
        with self.lock:
            self.busy -= 1
            if current is not None and current.alive():
                current.idle_since = time.monotonic()
                self.idle.append(current)
            self.lock.notify()

    def reap(self, idle_for: float, now: float | None = None) -> int:
        """Stop the workers idle for at least `idle_for` seconds; how many were stopped."""
        now = time.monotonic() if now is None else now
        with self.lock:
            expired = [warm for warm in self.idle if now - warm.idle_since >= idle_for or warm.expiring()]
            self.idle = [warm for warm in self.idle if warm not in expired]
        for warm in expired:
            warm.stop()
        return len(expired)

    def invoke(self, event: Any, *, wait: bool = False, patience: float | None = None) -> Any:
        """A synchronous invocation (RequestResponse); raises Throttled or FunctionError, or GaveUp
        once the caller has waited ``patience`` seconds (the invocation then runs on)."""
        request_id = str(uuid.uuid4())
        try:
            current, cold = self._acquire(wait or self.spec.reserved_concurrency is None)
        except Throttled:
            self.on_invocation(Invocation(self.spec.source, request_id, 0.0, None, throttled=True))
            raise
        if patience is not None and cold:
            # A cold start may outlast the caller's patience: it runs aside from the start.
            answer: Future[Any] = Future()

            def cold_start() -> None:
                try:
                    answer.set_result(self._run(event, request_id, None))
                except BaseException as error:  # noqa: BLE001 - handed to the caller as raised
                    answer.set_exception(error)

            _aside(f"cold-{self.spec.source}", cold_start)
            try:
                return answer.result(timeout=patience)
            except WaitedTooLong:
                raise GaveUp(request_id) from None
        return self._run(event, request_id, current, patience)

    def _run(
        self, event: Any, request_id: str, current: _Worker | None, patience: float | None = None
    ) -> Any:
        """One invocation on ``current`` (None: a cold start), which is then released unless it is
        still running when ``patience`` ends (it is then left to run on, aside)."""
        started = time.perf_counter()
        cold_ms = None
        handed_on = False
        try:
            if current is None:
                stream = log_stream_name()
                current = _Worker(self.spec, stream, self._log(stream))
                cold_ms = current.cold_start_ms
            give_up_at = None if patience is None else started + patience
            result = current.invoke(event, request_id, give_up_at)
        except _StillRunning as running:
            assert current is not None
            handed_on = True
            _aside(f"run-on-{self.spec.source}", self._run_on, current, request_id, started, running.args[0])
            raise GaveUp(request_id) from None
        except FunctionError as error:
            self._record(request_id, started, cold_ms, error.payload)
            if current is not None and not current.alive():
                current = None
            raise
        finally:
            if not handed_on:
                self._release(current)
        self._record(request_id, started, cold_ms, None)
        return result

    def _run_on(self, current: _Worker, request_id: str, started: float, deadline: float) -> None:
        """The rest of an invocation its caller stopped waiting for: its answer is not used."""
        error = None
        try:
            current.answer(request_id, deadline)
        except FunctionError as failure:
            error = failure.payload
        self._release(current if current.alive() else None)
        self._record(request_id, started, None, error)

    def _record(
        self, request_id: str, started: float, cold_ms: float | None, error: dict[str, Any] | None
    ) -> None:
        duration = (time.perf_counter() - started) * 1000
        self.on_invocation(Invocation(self.spec.source, request_id, duration, cold_ms, error))

    def invoke_async(self, event: Any) -> str:
        """An asynchronous invocation (Event): queued, answered at once with a request id."""
        request_id = str(uuid.uuid4())
        self.async_calls.submit(self._attempt_async, event, request_id, 0)
        return request_id

    def _attempt_async(self, event: Any, request_id: str, attempt: int) -> None:
        """One try of an asynchronous invocation; a failed one is tried again later, as the event
        invoke config says, then sent to the on-failure destination."""
        try:
            self.invoke(event, wait=True)
            return
        except FunctionError as failure:
            error = failure.payload
        attempts = 1 + self.spec.max_retries
        if attempt + 1 < attempts:
            self.async_calls.submit(
                self._attempt_async, event, request_id, attempt + 1, delay=retry_delay(attempt)
            )
            return
        if self.spec.on_failure:
            record = {
                "version": "1.0",
                "timestamp": datetime.now(UTC).isoformat(),
                "requestContext": {
                    "requestId": request_id,
                    "functionArn": f"{self.spec.arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": "Unhandled",
                },
                "responsePayload": error,
            }
            self.send_to_queue(self.spec.on_failure, json.dumps(record))

    def stop(self) -> None:
        self.async_calls.stop()
        with self.lock:
            workers, self.idle = self.idle, []
        for current in workers:
            current.stop()


def _aside(name: str, task: Callable[..., None], *args: Any) -> None:
    """``task`` on a daemon thread of its own: a cold start or an invocation its caller stopped
    waiting for. At most the function's concurrency run at once (each holds a worker's slot), and
    the local cloud's exit does not wait for one, as it never waited for a caller."""
    threading.Thread(target=task, args=args, name=name, daemon=True).start()


def retry_delay(attempt: int) -> float:
    """Lambda waits about a minute, then two, between async retries; the local cloud compresses
    time by LOCALCLOUD_TIME_SCALE (default 60: one second stands for a minute)."""
    scale = time_scale()
    return (60.0 * (attempt + 1)) / scale


def extract(archive: Path, target_root: Path) -> Path:
    """Unzip a deployment package once; its content hash is in its name."""
    target = target_root / archive.stem
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(archive) as package:
            package.extractall(partial)
        partial.rename(target)
    return target


@dataclass
class Runner:
    """Every function of every region, by ARN, and the reaper of their idle workers."""

    functions: dict[str, LocalFunction] = field(default_factory=dict)
    idle_for: float = field(default_factory=worker_idle_seconds)
    stopped: threading.Event = field(default_factory=threading.Event)
    reaper: threading.Thread | None = None

    def start(self) -> None:
        self.reaper = threading.Thread(target=self._reap, name="lambda-reaper", daemon=True)
        self.reaper.start()

    def _reap(self) -> None:
        while not self.stopped.wait(min(1.0, self.idle_for / 4)):
            for function in list(self.functions.values()):
                function.reap(self.idle_for)

    def add(self, function: LocalFunction) -> None:
        self.functions[function.spec.arn] = function

    def get(self, arn: str) -> LocalFunction:
        base = ":".join(arn.split(":")[:7])  # drop a version or alias qualifier
        return self.functions[base]

    def find(self, arn: str) -> LocalFunction | None:
        return self.functions.get(":".join(arn.split(":")[:7]))

    def stop(self) -> None:
        self.stopped.set()
        if self.reaper is not None:
            self.reaper.join(timeout=5)
        for function in self.functions.values():
            function.stop()
