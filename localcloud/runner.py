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
- SnapStart (on the published version an alias invokes): the version is initialized once, in a
  snapshot process that ran the before-snapshot hooks (``_Snapshot``); each new environment is
  a fork of it that runs the after-restore hooks with the environment's own credentials, and
  its cold start is the restore (``RESTORE_REPORT``). A fork is not a Firecracker snapshot: the
  local figures are local emulation (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import signal
import socket
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
from localcloud.fis.extension import Extension
from localcloud.iam.principals import Credentials, expiring
from localcloud.scheduler import Scheduler
from localcloud.settings import time_scale, worker_idle_seconds

DEFAULT_CONCURRENCY = 4
# How often an asynchronous invocation held by its region's blackout looks again.
OUTAGE_RECHECK_SECONDS = 0.5
# A warm worker is retired when its credentials have less than its timeout and this left.
CREDENTIALS_MARGIN_SECONDS = 300.0
WORKER = Path(worker.__file__).resolve()


class Throttled(Exception):
    """Reserved concurrency is exhausted (Lambda's TooManyRequestsException)."""


class Unavailable(Exception):
    """The function's region is blacked out: nothing runs there (``localcloud.blackout``)."""


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
    version: str = "$LATEST"  # what the invocations run: the alias's published version
    invoked_arn: str | None = None  # the alias's ARN, when callers invoke one
    snap_start: bool = False  # SnapStart on that published version


@dataclass
class Invocation:
    function: str
    request_id: str
    duration_ms: float
    cold_start_ms: float | None
    error: dict[str, Any] | None = None
    throttled: bool = False


def log_stream_name(version: str = "$LATEST") -> str:
    """A new execution environment's log stream, named as Lambda names them."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def _description(spec: FunctionSpec, stream: str) -> dict[str, Any]:
    """What a worker is told of its function (localcloud.worker)."""
    return {
        "name": spec.name,
        "arn": spec.arn,
        "invokedArn": spec.invoked_arn or spec.arn,
        "version": spec.version,
        "memory": spec.memory,
        "logGroup": spec.log_group,
        "logStream": stream,
        "handler": spec.handler,
        "paths": spec.paths,
    }


class _Connection:
    """The runner's end of a worker's messages: JSON lines written to ``writer``, read from ``fd``,
    the worker's log lines forwarded to ``log``."""

    writer: Any
    fd: int
    log: Callable[[str], None]
    buffer: bytes = b""

    def _send(self, message: Any) -> None:
        try:
            self.writer.write(json.dumps(message).encode() + b"\n")
            self.writer.flush()
        except (BrokenPipeError, ConnectionError, ValueError) as error:
            raise _exited() from error

    def _receive(self, deadline: float) -> tuple[str, Any]:
        """The next non-log message, forwarding log lines; raises TimeoutError at the deadline."""
        fd = self.fd
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
            try:
                chunk = os.read(fd, 1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise _exited()
            self.buffer += chunk


class _Worker(_Connection):
    """One execution environment: a worker process (``localcloud.worker``) and its pipes."""

    def __init__(self, spec: FunctionSpec, stream: str, log: Callable[[str], None]) -> None:
        self.spec = spec
        self.log = log
        self.stream = stream  # the context's log_stream_name: where its lines go
        self.idle_since = time.monotonic()
        self.buffer = b""
        description = _description(spec, stream)
        # Lambda has the role's credentials before the environment starts: not part of its init.
        self.credentials = _role_credentials(spec)
        started = time.perf_counter()
        self.process = _start(spec, self.credentials)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.writer, self.fd = self.process.stdin, self.process.stdout.fileno()
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
        _end(self.process)


class _Restored(_Worker):
    """An execution environment restored from the version's snapshot: a fork of the snapshot
    process, speaking over its own socket."""

    def __init__(self, snapshot: _Snapshot, stream: str, log: Callable[[str], None]) -> None:
        spec = snapshot.spec
        self.spec, self.log, self.stream = spec, log, stream
        self.idle_since = time.monotonic()
        self.buffer = b""
        self.credentials = _role_credentials(spec)
        ours, theirs = socket.socketpair()
        self.connection = ours
        self.writer, self.fd = ours.makefile("wb"), ours.fileno()
        started = time.perf_counter()
        restore = {
            "environment": self.credentials.environment() if self.credentials else {},
            "logStream": stream,
        }
        try:
            snapshot.restore(json.dumps(restore).encode(), theirs)
        finally:
            theirs.close()
        try:
            kind, value = self._receive(started + 10)  # Lambda allows a restore 10 s
        except TimeoutError:
            self.connection.close()
            raise FunctionError(
                {"errorType": "SnapStartTimeoutException", "errorMessage": "restore took over 10 s"}
            ) from None
        if kind == "init_error":
            self.connection.close()
            raise FunctionError(value)
        self.pid = int(value["pid"])
        self.restore_ms = float(value["ms"])
        self.cold_start_ms = (time.perf_counter() - started) * 1000
        self.log(
            f"RESTORE_REPORT Restore Duration: {self.restore_ms:.2f} ms "
            f"(request to ready: {self.cold_start_ms:.2f} ms)"
        )

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError, FunctionError):
            self._send(None)
        with contextlib.suppress(OSError):
            self.writer.close()
        self.connection.close()
        deadline = time.monotonic() + 1
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class _Snapshot(_Connection):
    """A published version's snapshot: a worker initialized once, its before-snapshot hooks run,
    waiting to be forked into restored environments (localcloud.worker)."""

    def __init__(self, spec: FunctionSpec, log: Callable[[str], None]) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.control, theirs = socket.socketpair()
        credentials = _role_credentials(spec)
        started = time.perf_counter()
        self.process = _start(spec, credentials, theirs.fileno())
        theirs_fd = theirs.fileno()
        # The snapshot's own messages: its init, and what its code logs before the snapshot.
        self.log = log
        assert self.process.stdin is not None and self.process.stdout is not None
        self.writer, self.fd = self.process.stdin, self.process.stdout.fileno()
        self._send({**_description(spec, "snapshot"), "snapStart": True, "control": theirs_fd})
        theirs.close()
        try:
            kind, value = self._receive(started + max(130.0, spec.timeout))  # Lambda's init limit
        except TimeoutError:
            self.stop()
            raise FunctionError(
                {"errorType": "SnapStartTimeoutException", "errorMessage": "snapshot init timed out"}
            ) from None
        if kind == "init_error":
            self.stop()
            raise FunctionError(value)
        self.init_ms = (time.perf_counter() - started) * 1000
        log(f"INIT_REPORT Init Duration: {value:.2f} ms (snapshot of version {spec.version})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def restore(self, message: bytes, connection: socket.socket) -> None:
        with self.lock:
            socket.send_fds(self.control, [message], [connection.fileno()])

    def stop(self) -> None:
        self.control.close()
        _end(self.process)


def _start(spec: FunctionSpec, credentials: Credentials | None, *pass_fds: int) -> subprocess.Popen[bytes]:
    """A worker process: the runtime's Python on localcloud.worker, in the function's environment
    with the role's credentials, speaking on its stdin and stdout."""
    environment = {**spec.environment, **(credentials.environment() if credentials else {})}
    # Lambda runs the handler with /var/task, the function's code, as working directory.
    return subprocess.Popen(  # noqa: S603 - the runtime's interpreter and our worker
        [spec.python, "-I", "-S", "-B", str(WORKER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
        cwd=spec.paths[0],
        pass_fds=pass_fds,
        # A process group of its own: a terminal's Ctrl-C, sent to the whole foreground group,
        # would interrupt a worker wherever it is (its imports: a KeyboardInterrupt traceback on
        # the terminal). The local cloud ends its workers itself; a worker also ends with its input.
        process_group=0,
    )


def _end(process: subprocess.Popen[bytes]) -> None:
    """Close a worker process's pipes (it exits at the end of its input) and wait, or kill it."""
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=1)


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
        self.snapshot: _Snapshot | None = None
        self.snapshot_used = 0.0  # time.monotonic() when an environment was last restored from it
        self.snapshot_lock = threading.Lock()
        self.stopped = False  # no snapshot is taken once the function is stopped
        # Whether the function's region is blacked out (set by the local cloud): nothing runs.
        self.out: Callable[[], bool] = lambda: False
        # The AWS FIS Lambda extension, for a function with a configuration location (localcloud.fis).
        self.extension: Extension | None = None

    def prepare(self) -> None:
        """Take the version's snapshot now, as Lambda does when the version is published; a
        failed init is left for the first invocation to report."""
        if self.spec.snap_start:
            with contextlib.suppress(FunctionError):
                self._snapshot()

    def _snapshot(self) -> _Snapshot:
        """The version's snapshot, taken once (again if its process died or was reaped)."""
        with self.snapshot_lock:
            if self.stopped:
                raise _exited()
            if self.snapshot is None or not self.snapshot.alive():
                self.snapshot = _Snapshot(self.spec, self._log(log_stream_name(self.spec.version)))
            self.snapshot_used = time.monotonic()
            return self.snapshot

    def _new_environment(self) -> _Worker:
        stream = log_stream_name(self.spec.version)
        if self.spec.snap_start:
            return _Restored(self._snapshot(), stream, self._log(stream))
        return _Worker(self.spec, stream, self._log(stream))

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

    def reap_snapshot(self, idle_for: float, now: float | None = None) -> bool:
        """Stop a SnapStart version's snapshot process once no environment is left and none was
        restored from it for `idle_for` seconds: the local cloud keeps no idle memory for it
        (Lambda keeps the snapshot cached; here the next environment pays the init again)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            unused = not self.idle and self.busy == 0
        with self.snapshot_lock:
            if self.snapshot is None or not unused or now - self.snapshot_used < idle_for:
                return False
            self.snapshot.stop()
            self.snapshot = None
        return True

    def invoke(self, event: Any, *, wait: bool = False, patience: float | None = None) -> Any:
        """A synchronous invocation (RequestResponse); raises Throttled or FunctionError, or GaveUp
        once the caller has waited ``patience`` seconds (the invocation then runs on); raises
        Unavailable while its region is blacked out."""
        if self.out():
            raise Unavailable(f"{self.spec.name}: {self.spec.region} is blacked out")
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
                current = self._new_environment()
                cold_ms = current.cold_start_ms
            if self.extension is not None and (injected := self.extension.injected_error()) is not None:
                raise FunctionError(injected)
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
        invoke config says, then sent to the on-failure destination. While the region is blacked
        out the event waits in Lambda's queue, no try counted."""
        try:
            self.invoke(event, wait=True)
            return
        except Unavailable:
            self.async_calls.submit(
                self._attempt_async, event, request_id, attempt, delay=OUTAGE_RECHECK_SECONDS
            )
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

    def lose_environments(self) -> None:
        """The region went dark: its idle execution environments and its snapshot are gone (one
        running now finishes; the next invocation after the restore is a cold start)."""
        self.reap(0.0)
        with self.snapshot_lock:
            if self.snapshot is not None:
                self.snapshot.stop()
                self.snapshot = None

    def stop(self) -> None:
        self.async_calls.stop()
        with self.lock:
            workers, self.idle = self.idle, []
        for current in workers:
            current.stop()
        with self.snapshot_lock:
            self.stopped = True
            if self.snapshot is not None:
                self.snapshot.stop()
                self.snapshot = None


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


def merge_layers(layers: list[Path], target_root: Path) -> Path:
    """One ``/opt`` from a function's extracted layers, as Lambda merges them: in the order the
    function lists them, a later layer's file over an earlier one's at the same path, folders
    merged (https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html). Made of symbolic
    links into the layers (a folder only one layer has is one link), once per list of layers."""
    digest = hashlib.sha256("\0".join(str(layer) for layer in layers).encode()).hexdigest()[:16]
    target = target_root / f"opt-{digest}"
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _link_merged([layer for layer in layers if layer.is_dir()], partial)
        partial.rename(target)
    return target


def _link_merged(sources: list[Path], into: Path) -> None:
    names = dict.fromkeys(child.name for source in sources for child in sorted(source.iterdir()))
    for name in names:
        having = [source / name for source in sources if (source / name).exists()]
        if len(having) > 1 and all(path.is_dir() for path in having):
            (into / name).mkdir()
            _link_merged(having, into / name)
        else:
            (into / name).symlink_to(having[-1].resolve())


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

    def prepare(self) -> None:
        """Every SnapStart version's snapshot, taken now, one at a time (as Lambda takes them when
        the versions are published). The local cloud does not call it: a version is snapshotted
        at its first invocation, so start and idle memory stay small."""
        for function in list(self.functions.values()):
            if self.stopped.is_set():
                return
            function.prepare()

    def _reap(self) -> None:
        while not self.stopped.wait(min(1.0, self.idle_for / 4)):
            for function in list(self.functions.values()):
                function.reap(self.idle_for)
                function.reap_snapshot(self.idle_for)

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
