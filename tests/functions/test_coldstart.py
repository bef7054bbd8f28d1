"""shared.coldstart: the garbage collector is off from a function package's import to the end of
its first invocation, then on with everything alive frozen. Each case runs in a fresh
interpreter: the collector's state is the process's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
PACKAGES = sorted(path.parent.name for path in FUNCTIONS.glob("*/app.py") if path.parent.name != "shared")
# Enough for every module to import and every handler to fail fast: no AWS endpoint answers.
ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "Test",
    "POWERTOOLS_SERVICE_NAME": "test",
}


def run(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(FUNCTIONS)!r})\n{code}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENVIRONMENT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_collector_is_off_until_the_first_answer_then_on_with_the_start_frozen() -> None:
    run(
        "import gc\n"
        "import shared.coldstart as coldstart\n"
        "assert not gc.isenabled()\n"
        "seen = []\n"
        "def answer(event, context):\n"
        "    seen.append(gc.isenabled())\n"
        "    return event\n"
        "handler = coldstart.collect_after_first_call(answer)\n"
        "assert handler('answer', None) == 'answer'\n"
        "assert seen == [False] and gc.isenabled() and gc.get_freeze_count() > 0\n"
        "assert handler('again', None) == 'again' and seen == [False, True]\n"
    )


def test_a_first_call_that_raises_turns_the_collector_on_all_the_same() -> None:
    run(
        "import gc\n"
        "import shared.coldstart as coldstart\n"
        "def fail(event, context):\n"
        "    raise RuntimeError(event)\n"
        "handler = coldstart.collect_after_first_call(fail)\n"
        "try:\n"
        "    handler('boom', None)\n"
        "except RuntimeError as error:\n"
        "    assert str(error) == 'boom'\n"
        "assert gc.isenabled()\n"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_every_function_starts_without_the_collector_and_its_handler_turns_it_on(package: str) -> None:
    run(
        "import gc, importlib\n"
        f"importlib.import_module({package!r})\n"
        "assert not gc.isenabled(), 'the package does not import shared.coldstart first'\n"
        f"app = importlib.import_module({package + '.app'!r})\n"
        "assert not gc.isenabled()\n"
        "context = type('Context', (), {'function_name': 'f', 'memory_limit_in_mb': 128, "
        "'invoked_function_arn': 'arn:aws:lambda:us-east-1:123456789012:function:f', "
        "'aws_request_id': 'r', 'get_remaining_time_in_millis': lambda self: 1000})()\n"
        "try:\n"
        "    app.handler({}, context)\n"
        "except Exception:\n"
        "    pass  # a malformed event: what matters is that the first call ended\n"
        "assert gc.isenabled(), 'the handler is not wrapped by collect_after_first_call'\n"
    )
