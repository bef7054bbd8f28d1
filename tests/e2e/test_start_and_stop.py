"""Starting and stopping the local cloud as `make demo` does: state.json appears whole, and a
Ctrl-C at any moment after it appears stops every process the local cloud started, quietly: the
Lambda workers, some of them still importing their handlers then, have process groups of their
own, which the terminal's Ctrl-C does not reach, and the local cloud ends them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from waiting import wait_for

from .cloud import PORT_BASE, READY_TIMEOUT, ROOT
from .conftest import _assert_no_process_left


def test_a_ctrl_c_as_soon_as_state_json_appears_stops_the_whole_cloud_quietly(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with (tmp_path / "localcloud.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "--port", str(PORT_BASE + 300)],
            cwd=ROOT,
            env={**os.environ, "LOCALCLOUD_STATE_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: state.exists() or process.poll() is not None, timeout=READY_TIMEOUT, interval=0.01
            )
            assert state.exists(), (tmp_path / "localcloud.log").read_text()[-4000:]
            # At once, as a terminal's Ctrl-C reaches the whole group: the start may not have ended.
            written = state.read_text()
            os.killpg(process.pid, signal.SIGINT)

            assert json.loads(written)["moto"]
            assert process.wait(timeout=60) == 0, (tmp_path / "localcloud.log").read_text()[-4000:]
            _assert_no_process_left(process.pid, tmp_path)
            output = (tmp_path / "localcloud.log").read_text()
            assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-4000:]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    assert not state.exists()
