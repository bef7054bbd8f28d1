"""The deployer the local cloud starts (``localcloud.deployer --serve``): it imports everything a
deployment will before it is asked for one, and deploys every stack at once, each in a forked
child, answering for each whether it deployed, failing ones included; a stack's reads of what the
stacks before it publish wait for them while they run, and find what SSM would once they end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from localcloud.deployer import EarlierStacks

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


def test_serve_answers_for_every_stack_in_order_failed_ones_included(tmp_path):
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


def _not_found() -> ClientError:
    return ClientError({"Error": {"Code": "ParameterNotFound", "Message": "not found"}}, "GetParameter")


def test_a_read_beside_the_earlier_stacks_waits_for_what_they_publish():
    earlier = EarlierStacks()
    published = threading.Event()
    reads = []

    def get():
        reads.append(1)
        if len(reads) == 3:
            published.set()  # the primary publishes it between the second and third read
            return {"Parameter": {"Name": "/app/global/table-name", "Value": "table"}}
        raise _not_found()

    assert earlier.read(get) == {"Name": "/app/global/table-name", "Value": "table"}
    assert published.is_set() and len(reads) == 3


def test_once_the_earlier_stacks_have_ended_a_missing_parameter_is_not_found_as_in_ssm():
    earlier = EarlierStacks()
    reads = []

    def get():
        reads.append(1)
        if len(reads) == 2:
            earlier.ended.set()  # the primary ends without publishing it
        raise _not_found()

    with pytest.raises(ClientError, match="ParameterNotFound"):
        earlier.read(get)
    assert len(reads) == 3  # one more read after the end, which sees all they wrote


def test_any_other_error_of_a_read_is_raised_at_once():
    def get():
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")

    with pytest.raises(ClientError, match="AccessDeniedException"):
        EarlierStacks().read(get)


def test_the_earlier_stacks_end_when_their_pipe_closes():
    told, tell = os.pipe()
    earlier = EarlierStacks.listening(told)
    assert not earlier.ended.wait(0.05)
    os.close(tell)
    assert earlier.ended.wait(10)
