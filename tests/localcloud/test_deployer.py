"""The deployer the local cloud starts (``localcloud.deployer --serve``): it imports everything a
deployment will before it is asked for one, and deploys each stack in a forked child, answering
for each whether it deployed, failing ones included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Synthesizes one stack after preload() and prints the modules the program imported that preload
# did not: one stack a process, as Pulumi's runtime keeps global state.
MISSED_BY_PRELOAD = """
import json, sys
from localcloud import deployer
deployer.preload()
before = set(sys.modules)
from tools import synth
synth.synthesize(sys.argv[1])
print(json.dumps(sorted(name for name in set(sys.modules) - before if name.startswith("pulumi_aws"))))
"""


@pytest.mark.parametrize("stack", ["us-east-1", "us-west-2"])
def test_preload_imports_every_pulumi_aws_module_a_deployment_uses(stack):
    result = subprocess.run(
        [sys.executable, "-c", MISSED_BY_PRELOAD, stack],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_serve_answers_for_each_stack_and_keeps_serving_after_a_failed_one(tmp_path):
    # No Slack signing secret in either stack's config: each deployment stops with the program's error.
    requests = [
        {
            "stack": stack,
            "moto": "http://127.0.0.1:9",
            "ports": {},
            "settings": {"config": {"aws:region": stack}, "secrets": []},
            "out": str(tmp_path / stack / "graph.json"),
            "principals": None,
            "log": str(tmp_path / f"{stack}.log"),
        }
        for stack in ("us-east-1", "us-west-2")
    ]
    result = subprocess.run(
        [sys.executable, "-m", "localcloud.deployer", "--serve"],
        cwd=ROOT,
        input="".join(json.dumps(request) + "\n" for request in requests),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert replies == [{"stack": "us-east-1", "returncode": 1}, {"stack": "us-west-2", "returncode": 1}]
    for request in requests:
        log = Path(request["log"]).read_text()  # the cause, in that stack's own log
        assert "slackSigningSecret is not set" in log and f"--stack {request['stack']}" in log, log[-2000:]
        assert not Path(request["out"]).exists()
