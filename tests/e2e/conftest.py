"""A running local cloud for end-to-end tests: started once per session on its own ports and
state directory (a `make demo` may run beside it), stopped with Ctrl-C (SIGINT) at the end.
Tests talk only to 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cloud import PORT_BASE, READY_TIMEOUT, ROOT, Cloud


def _wait_for_state(path: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = path.parent / "localcloud.log"
            raise RuntimeError(
                f"the local cloud exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            )
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.5)
    raise TimeoutError(f"the local cloud was not ready within {READY_TIMEOUT} s")


@contextlib.contextmanager
def running_cloud(state_dir: Path, port: int, env: dict[str, str] | None = None) -> Iterator[Cloud]:
    """A local cloud on its own ports and state directory until the block ends (then Ctrl-C)."""
    log = (state_dir / "localcloud.log").open("w")
    environment = {
        **os.environ,
        "LOCALCLOUD_STATE_DIR": str(state_dir),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        state = _wait_for_state(state_dir / "state.json", process)
        running = Cloud(state, process, state_dir)
        # Deterministic clicks: no injected failures unless a test asks for them.
        assert running.slack("us-east-1", "errors 0").status == 200
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
            _assert_no_process_left(process.pid, state_dir)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            log.close()


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with running_cloud(tmp_path_factory.mktemp("localcloud"), PORT_BASE) as running:
        yield running


def _assert_no_process_left(group: int, state_dir: Path) -> None:
    """Ctrl-C must stop moto, every Lambda worker and every server the local cloud started: none
    is left in its process group, nor any Lambda worker (each has a group of its own, which a
    terminal's Ctrl-C does not reach; it runs in a code folder of the state directory)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            if not _running_in(state_dir):
                return
        time.sleep(0.2)
    raise AssertionError(
        f"processes of the local cloud are still running after Ctrl-C (workers: {_running_in(state_dir)})"
    )


def _running_in(folder: Path) -> list[int]:
    """The processes whose working directory is in ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")).is_relative_to(folder.resolve()):
                found.append(int(entry.name))
    return found
