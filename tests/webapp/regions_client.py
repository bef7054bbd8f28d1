"""Running the web app's failover logic (static/assets/regions.js) under Node, as the page runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CLIENT = Path(__file__).with_name("failover_request.mjs")


def request_with_failover(
    candidates: list[dict[str, str]], path: str, init: dict[str, Any] | None = None
) -> Any:
    """regions.js's requestWithFailover with Node's fetch: its result and failovers."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (.ci/run installs it)")
    done = subprocess.run(
        [node, str(CLIENT)],
        input=json.dumps({"candidates": candidates, "path": path, "init": init or {}}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)
