"""Cold starts: every function from a fresh interpreter to its first response, against a bare
``import boto3`` in a fresh interpreter, on a running local cloud (one region). Both run on the
runtime's Python with the packages a worker gets (``localcloud.runtimes``): the function's zip
with its bytecode, its layers and the runtime's boto3.

Each round runs every function once, each right after a baseline of its own, so the two see the
same moment's machine load, and each pair once the local cloud's functions are idle
(``wait_until_quiet``); a function's ratio in a round is its time over the baselines run just
before and just after it (their geometric mean: the next pair's baseline, and one more after the
last), and the figure reported is the median over rounds. Each function runs in a fresh
``python -c`` with exactly its Lambda environment and code paths (``FunctionSpec``), imports its
handler, answers one realistic event (``probes``: built by the local gateway itself for API
routes, so the event is the one the gateway would send) and then, still warm, times further
direct handler calls.

SnapStart (``snapstart``): each function with SnapStart is snapshotted once as the local cloud
does (``localcloud.runner``: a worker initialized, its before-snapshot hooks run), then restored
into a new environment in every round (a fork running the after-restore hooks) that answers the
same probe: the snapshot's init, the restore and the first response (restore plus the first
invocation), labelled local emulation. A fork is not a Firecracker snapshot restore.

``python -m bench.coldstart`` starts its own local cloud (port base 7100, ``--port`` or
``BENCH_COLDSTART_PORT`` to move it; temporary state) and prints the tables. ``--importtime
FUNCTION`` (repeatable) prints instead where that function's cold start goes: one start under
``python -X importtime`` in exactly the worker's environment, its handler's import and first call
timed apart, and its top imports by cumulative time.
"""

from __future__ import annotations

import base64
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import cloud as bench_cloud
from localcloud.settings import ACCOUNT
from localcloud.slack import command_body, sign

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.graph import Region
    from localcloud.runner import FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
PORT_BASE = int(os.environ.get("BENCH_COLDSTART_PORT", "7100"))
PACKAGES = ("boto3", "botocore", "aws-lambda-powertools", "moto", "pulumi", "pulumi-aws", "werkzeug")
# Issue 14: each function's cold start at most this many times a bare `import boto3`'s. The
# functions users (and Slack) wait on, 1.2; the asynchronous ones, which nobody waits on, 1.5.
USER_FACING_TARGET = 1.2
ASYNCHRONOUS_TARGET = 1.5
USER_FACING = ("health", "login", "hello", "clicks", "discovery", "web", "slack_commands")
ASYNCHRONOUS = ("writer", "dead_letters", "notifier", "security")
TARGETS = {
    **dict.fromkeys(USER_FACING, USER_FACING_TARGET),
    **dict.fromkeys(ASYNCHRONOUS, ASYNCHRONOUS_TARGET),
}
ORDER = (*USER_FACING, *ASYNCHRONOUS)
# Before each pair (a baseline, then a function): the local cloud's functions idle this long.
QUIET_SECONDS = 0.3
QUIET_TIMEOUT = 5.0

# Runs in the fresh interpreter. The baseline (no handler) imports boto3 where a function
# imports its handler; everything else is the same. The function's own output (its logs) goes
# to stderr, so stdout carries only the answers: the first response, then the warm timings.
BOOTSTRAP = """\
import json, sys, time
request = json.loads(sys.stdin.readline())
answers, sys.stdout = sys.stdout, sys.stderr
sys.path[:0] = request["paths"]
if request["handler"] is None:
    import boto3
    answers.write(json.dumps({"cpuMs": time.process_time() * 1000}) + "\\n")
    answers.flush()
    raise SystemExit
import importlib
started = time.perf_counter()
module, _, name = request["handler"].rpartition(".")
handler = getattr(importlib.import_module(module), name)
imported = time.perf_counter()
context = type("Context", (), {**request["context"], "get_remaining_time_in_millis": lambda self: 30000})()
event = request["event"]
try:
    answer = {"result": handler(event, context)}
except Exception as error:
    import traceback
    answer = {"error": "".join(traceback.format_exception(error))}
answer["importMs"] = (imported - started) * 1000
answer["firstCallMs"] = (time.perf_counter() - imported) * 1000
answer["cpuMs"] = time.process_time() * 1000
answers.write(json.dumps(answer, default=str) + "\\n")
answers.flush()
timings = []
for _ in range(request["warm"]):
    started = time.perf_counter()
    handler(event, context)
    timings.append((time.perf_counter() - started) * 1000)
answers.write(json.dumps(timings) + "\\n")
answers.flush()
"""


@dataclass(frozen=True)
class Probe:
    """One realistic request to a function: an HTTP request to one of the region's APIs
    (``api`` "user" or "slack"), or the event an AWS service would invoke it with."""

    function: str  # the folder under functions/
    api: str | None = None
    method: str = ""
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    event: dict[str, Any] | None = None

    def url(self, state: dict[str, Any], region: str = REGION) -> str:
        """Where to send this request through the local gateway."""
        if self.api is None:
            raise ValueError(f"{self.function} is not behind an API")
        urls = state["regions"][region]
        return (urls["api"] if self.api == "user" else urls["slackApi"]) + self.path

    def invocation(self, region: Region) -> dict[str, Any]:
        """The event the function receives: the gateway's own for an API request."""
        if self.api is None:
            assert self.event is not None
            return self.event
        _, event = region.apis[self.api].build_event(
            self.method, self.path, headers=self.headers, body=self.body
        )
        return event


def probes(cloud: LocalCloud, state: dict[str, Any], region: str = REGION) -> dict[str, Probe]:
    """One probe per function, fresh (Slack signatures are valid for 5 minutes): health, login,
    hello, clicks, discovery, web and slack_commands through their APIs; the rest as the events
    EventBridge, SQS, SNS and CloudWatch send them."""
    local = cloud.regions[region]
    specs = {source: function.spec for source, function in local.functions.items()}
    user = state["demoUser"]
    login_body = json.dumps({"username": user["username"], "password": user["password"]}).encode()
    json_headers = {"content-type": "application/json", "accept": "application/json"}
    token = _login(state, region, login_body)
    claims = _claims(token)
    bearer = {**json_headers, "authorization": f"Bearer {token}"}
    return {
        "health": Probe("health", "user", "GET", "/health", {"accept": "application/json"}),
        "login": Probe("login", "user", "POST", "/login", json_headers, login_body),
        "hello": Probe("hello", "user", "GET", "/hello", bearer),
        "clicks": Probe("clicks", "user", "POST", "/click", bearer, b"{}"),
        "discovery": Probe("discovery", "user", "GET", "/config", {"accept": "application/json"}),
        "web": Probe("web", "user", "GET", "/", {"accept": "text/html,application/xhtml+xml"}),
        "slack_commands": _slack_command(state, "status"),
        "writer": Probe("writer", event=_page_viewed(specs["clicks"], claims, region)),
        "dead_letters": Probe("dead_letters", event=_dead_letter(local, specs["clicks"], claims, region)),
        "notifier": Probe("notifier", event=_alarm_notification(local, region)),
        "security": Probe("security", event=_failed_logins_alarm(local, region)),
    }


def _login(state: dict[str, Any], region: str, body: bytes) -> str:
    request = urllib.request.Request(  # noqa: S310 - the local gateway on 127.0.0.1
        state["regions"][region]["api"] + "/login",
        data=body,
        method="POST",
        headers={"content-type": "application/json"},
    )
    # POST /login is throttled (5/s, burst 10) and every round logs in, and on a busy machine the
    # function's first cold start can outlast the integration timeout: a 429 or 503 is waited
    # out, as a client backs off, within a deadline.
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return str(json.loads(response.read())["idToken"])
        except urllib.error.HTTPError as error:
            if error.code not in (429, 503) or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _slack_command(state: dict[str, Any], text: str) -> Probe:
    """``/chaos <text>`` as Slack sends it: a form body signed with the app's signing secret."""
    slack = state["slack"]
    body = command_body(slack["teamId"], text, user="bench")
    timestamp = int(time.time())
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json,*/*",
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": sign(slack["signingSecret"], timestamp, body),
    }
    return Probe("slack_commands", "slack", "POST", "/slack/commands", headers, body)


def _page_viewed(clicks: FunctionSpec, claims: dict[str, Any], region: str) -> dict[str, Any]:
    """The event EventBridge delivers to the writer (as ``clicks`` puts it on the bus)."""
    now = datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "PageViewed",
        "source": clicks.environment["EVENT_SOURCE"],
        "account": ACCOUNT,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {
            "eventId": str(uuid.uuid4()),
            "userId": claims["sub"],
            "username": claims.get("cognito:username", "demo"),
            "region": region,
            "at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    }


def _dead_letter(local: Region, clicks: FunctionSpec, claims: dict[str, Any], region: str) -> dict[str, Any]:
    """An SQS batch from the dead letter queue: a click event EventBridge gave up delivering."""
    writer = local.functions["writer"].spec
    dead_letters = local.functions["dead_letters"].spec.arn
    mapping = next(
        resource["inputs"]
        for resource in local.graph.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
        if ":".join(resource["inputs"]["functionName"].split(":")[:7]) == dead_letters
    )
    rule = local.graph.of_type("aws:cloudwatch/eventRule:EventRule")[0]["outputs"]["arn"]
    now_ms = int(time.time() * 1000)

    def attribute(value: str, kind: str = "String") -> dict[str, Any]:
        return {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": kind}

    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEBbench",
                "body": json.dumps(_page_viewed(clicks, claims, region)),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(now_ms),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(now_ms + 50),
                },
                "messageAttributes": {
                    "RULE_ARN": attribute(rule),
                    "TARGET_ARN": attribute(writer.arn),
                    "ERROR_CODE": attribute("THROTTLING"),
                    "ERROR_MESSAGE": attribute("Rate Exceeded. (Service: Lambda, Status Code: 429)"),
                    "EXHAUSTED_RETRY_CONDITION": attribute("MaximumRetryAttempts"),
                    "RETRY_ATTEMPTS": attribute("8", "Number"),
                },
                "md5OfBody": "bench",
                "eventSource": "aws:sqs",
                "eventSourceARN": mapping["eventSourceArn"],
                "awsRegion": region,
            }
        ]
    }


def _alarm(local: Region, suffix: str) -> dict[str, Any]:
    return next(
        resource
        for resource in local.graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if resource["name"].endswith(suffix)
    )


def _alarm_notification(local: Region, region: str) -> dict[str, Any]:
    """SNS delivering the error-rate alarm's state change to the notifier."""
    alarm = _alarm(local, "-error-rate")
    topic = alarm["inputs"]["alarmActions"][0]
    now = datetime.now(UTC)
    message = {
        "AlarmName": alarm["outputs"]["name"],
        "AlarmDescription": alarm["inputs"].get("alarmDescription", ""),
        "AWSAccountId": ACCOUNT,
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 1 datapoint [0.12] was greater than the threshold (0.05).",
        "StateChangeTime": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Region": "US East (N. Virginia)",
        "AlarmArn": alarm["outputs"]["arn"],
        "OldStateValue": "OK",
        "Trigger": {"Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold"},
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic,
                    "Subject": f'ALARM: "{alarm["outputs"]["name"]}" in US East (N. Virginia)',
                    "Message": json.dumps(message),
                    "Timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "SignatureVersion": "1",
                    "Signature": "bench",
                    "SigningCertUrl": f"https://sns.{region}.amazonaws.com/bench.pem",
                    "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def _failed_logins_alarm(local: Region, region: str) -> dict[str, Any]:
    """The failed-logins alarm's Lambda action invoking the security responder."""
    alarm = _alarm(local, "-failed-logins")
    inputs = alarm["inputs"]
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return {
        "source": "aws.cloudwatch",
        "alarmArn": alarm["outputs"]["arn"],
        "accountId": ACCOUNT,
        "time": at,
        "region": region,
        "alarmData": {
            "alarmName": alarm["outputs"]["name"],
            "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": at},
            "previousState": {"value": "OK", "reason": "Threshold not crossed", "timestamp": at},
            "configuration": {
                "description": inputs.get("alarmDescription", ""),
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": inputs.get("namespace", ""),
                                "name": inputs.get("metricName", "FailedLogins"),
                                "dimensions": inputs.get("dimensions") or {},
                            },
                            "period": int(inputs.get("period", 300)),
                            "stat": "Sum",
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


# Measuring


@dataclass
class Sample:
    cold_ms: float
    answer: dict[str, Any]
    warm_ms: list[float]
    logs: str  # the end of the function's own output, to explain a failure


def spawn(
    spec: FunctionSpec,
    event: Any = None,
    warm: int = 0,
    *,
    baseline: bool = False,
    options: tuple[str, ...] = (),
) -> Sample:
    """A fresh interpreter of the function's runtime answering one request (or, as the baseline,
    importing the runtime's boto3): the time from process start to its first answer, then
    ``warm`` direct handler calls timed inside it. As a worker, it writes no bytecode.
    ``options``: more interpreter options (``-X importtime``); its output is in ``logs``."""
    request = {
        "handler": None if baseline else spec.handler,
        "paths": spec.paths[-1:] if baseline else spec.paths,  # the last is the runtime's own
        "context": {} if baseline else _context(spec),
        "event": event,
        "warm": warm,
    }
    line = json.dumps(request).encode() + b"\n"
    # As a worker: the execution role's credentials, taken before the start is timed.
    credentials = None if baseline or spec.credentials is None else spec.credentials()
    environment = {**spec.environment, **(credentials.environment() if credentials else {})}
    with tempfile.TemporaryFile() as logs:
        started = time.perf_counter()
        process = subprocess.Popen(
            [spec.python, "-I", "-S", "-B", *options, "-c", BOOTSTRAP],
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=logs,
            cwd=tempfile.gettempdir(),
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line)
        process.stdin.flush()
        first = process.stdout.readline()
        cold_ms = (time.perf_counter() - started) * 1000
        rest = process.stdout.read()
        process.wait(timeout=600)
        logs.seek(0)
        output = logs.read().decode("utf-8", "replace")
    tail = output if options else output[-4000:]
    if not first:
        raise RuntimeError(f"{'the baseline' if baseline else spec.source} gave no answer:\n{tail[-4000:]}")
    return Sample(cold_ms, json.loads(first), [] if baseline else json.loads(rest), tail)


@dataclass(frozen=True)
class Import:
    """One line of ``python -X importtime``: a module's own import time and with what it imports."""

    module: str
    depth: int  # 0 for an import the function's code or the bootstrap made, 1 for one it made...
    self_us: int
    cumulative_us: int


def import_times(output: str) -> list[Import]:
    """The imports ``-X importtime`` wrote to stderr (``import time: self [us] | cumulative |
    imported package``, a nested import indented two spaces further), in the order it wrote them."""
    found = []
    for line in output.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        name = fields[2].rstrip()
        module = name.lstrip(" ")
        depth = (len(name) - len(module) - 1) // 2
        found.append(Import(module, depth, int(fields[0]), int(fields[1])))
    return found


def import_report(function: str, sample: Sample, top: int = 25) -> str:
    """Where a cold start's import time goes: the total, the first response, and the ``top``
    imports by cumulative time (a module's own time beside it), nested ones indented."""
    imports = import_times(sample.logs)
    total_ms = sum(entry.cumulative_us for entry in imports if entry.depth == 0) / 1000
    lines = [
        f"{function}: first response {sample.cold_ms:.0f} ms under -X importtime (which adds its own "
        f"cost): the handler's import {sample.answer['importMs']:.0f} ms, its first call "
        f"{sample.answer['firstCallMs']:.0f} ms; {len(imports)} modules imported in "
        f"{total_ms:.0f} ms in all, interpreter start and first call included",
        f"{'cumulative ms':>14}{'self ms':>9}  module",
    ]
    for entry in sorted(imports, key=lambda entry: entry.cumulative_us, reverse=True)[:top]:
        name = "  " * entry.depth + entry.module
        lines.append(f"{entry.cumulative_us / 1000:>14.1f}{entry.self_us / 1000:>9.1f}  {name}")
    return "\n".join(lines)


def importtime(cloud: LocalCloud, state: dict[str, Any], function: str, top: int = 25) -> str:
    """One cold start of ``function`` under ``python -X importtime``, as ``import_report``."""
    local = cloud.regions[REGION]
    calm_chaos(cloud)
    spec = local.functions[function].spec
    # One start first, as run() does, so the files come from a warm page cache.
    for _ in range(2):
        sample = spawn(spec, probes(cloud, state)[function].invocation(local), options=("-X", "importtime"))
        check(function, sample)
    return import_report(function, sample, top)


def _context(spec: FunctionSpec) -> dict[str, Any]:
    return {
        "function_name": spec.name,
        "function_version": "$LATEST",
        "invoked_function_arn": spec.arn,
        "memory_limit_in_mb": spec.memory,
        "aws_request_id": str(uuid.uuid4()),
        "log_group_name": spec.log_group,
        "log_stream_name": "bench",
    }


def check(function: str, sample: Sample) -> None:
    """A cold start only counts if the function answered properly."""
    answer, problem = sample.answer, None
    result = answer.get("result")
    if "error" in answer:
        problem = f"raised:\n{answer['error']}"
    elif isinstance(result, dict) and "statusCode" in result and result["statusCode"] != 200:
        problem = f"answered {result['statusCode']}: {str(result.get('body'))[:500]}"
    elif isinstance(result, dict) and result.get("batchItemFailures"):
        problem = f"failed records: {result['batchItemFailures']}"
    if problem:
        raise RuntimeError(f"{function} {problem}\n--- its logs:\n{sample.logs}")


def calm_chaos(cloud: LocalCloud, region: str = REGION) -> None:
    """No injected failures during the run: the region up, errorRate and writerFailureRate 0."""
    from localcloud.graph import aws_client

    spec = cloud.regions[region].functions["health"].spec
    # As the local cloud's admin (the local services' principal): moto enforces IAM.
    aws_client("ssm", region, cloud.moto_url).put_parameter(
        Name=f"{spec.environment['CHAOS_PARAMETER_PREFIX']}/{region}",
        Value=json.dumps({"failed": False, "errorRate": 0, "writerFailureRate": 0}),
        Type="String",
        Overwrite=True,
    )


def wait_until_quiet(
    cloud: LocalCloud, quiet_for: float = QUIET_SECONDS, timeout: float = QUIET_TIMEOUT
) -> None:
    """Until no function of the local cloud has run for ``quiet_for`` seconds (at most ``timeout``):
    what the last probe set off (EventBridge handing a click to the writer, which starts a worker;
    a dead letter's alert) ends before the next pair is timed, instead of taking the two cores
    from it. Measured without it, the security responder, last of a round, ran 1.25 to 2.76 times
    its baseline over five rounds (169 to 192 ms started alone, against a baseline of 179)."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None  # when they were first seen idle
    while (now := time.monotonic()) < deadline:
        if any(function.busy for function in cloud.runner.functions.values()):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_for:
            return
        time.sleep(0.02)


def run(
    cloud: LocalCloud, state: dict[str, Any], *, rounds: int = 5, warm_calls: int = 200
) -> dict[str, Any]:
    """Every function's cold start (median ms, median ratio to the baseline) and its warm direct
    handler calls (p50/p99 over ``warm_calls``, spread over the rounds)."""
    local = cloud.regions[REGION]
    functions = [name for name in ORDER if name in local.functions]
    # The SnapStart versions' snapshots, taken first, as at publish: not measured against them.
    cloud.runner.prepare()
    calm_chaos(cloud)
    reference = local.functions["health"].spec
    per_round = -(-warm_calls // rounds)
    baselines: list[float] = []
    cold: dict[str, list[float]] = {name: [] for name in functions}
    ratios: dict[str, list[float]] = {name: [] for name in functions}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in functions}
    warm: dict[str, list[float]] = {name: [] for name in functions}
    # Every baseline in the order run, and each counted start with the index of the one before it.
    sequence: list[Sample] = []
    starts: list[tuple[str, Sample, int]] = []
    # Round 0 is not counted: the first interpreters after the local cloud starts read their
    # files from a cold page cache (a baseline of several hundred ms), which says nothing of the code.
    for index in range(-1, rounds):
        requests = probes(cloud, state)
        warm_now = max(0, min(per_round, warm_calls - index * per_round)) if index >= 0 else 0
        for name in functions:
            wait_until_quiet(cloud)
            # Each start right after a baseline of its own: the two see the same moment's load.
            sequence.append(spawn(reference, baseline=True))
            spec = local.functions[name].spec
            sample = spawn(spec, requests[name].invocation(local), warm_now)
            check(name, sample)
            if index >= 0:
                starts.append((name, sample, len(sequence) - 1))
    wait_until_quiet(cloud)
    sequence.append(spawn(reference, baseline=True))  # the last start's baseline after it
    for name, sample, before in starts:
        # Against the baselines just before and just after it (their geometric mean): a machine
        # whose speed drifts between the two moves both, and one baseline's noise counts half.
        after = sequence[before + 1]
        baselines.append(sequence[before].cold_ms)
        cold[name].append(sample.cold_ms)
        ratios[name].append(sample.cold_ms / _between(sequence[before].cold_ms, after.cold_ms))
        cpu = _between(sequence[before].answer["cpuMs"], after.answer["cpuMs"])
        cpu_ratios[name].append(sample.answer["cpuMs"] / cpu)
        warm[name].extend(sample.warm_ms)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "runtimes": {name: runtime.describe() for name, runtime in sorted(cloud.runtimes.items())},
        "region": REGION,
        "rounds": rounds,
        "warmCalls": warm_calls,
        "targets": {name: TARGETS[name] for name in functions},
        "baseline": {"what": "import boto3", "ms": statistics.median(baselines), "samples": baselines},
        "functions": {
            name: {
                "coldMs": statistics.median(cold[name]),
                "ratio": statistics.median(ratios[name]),
                "target": TARGETS[name],
                "pass": statistics.median(ratios[name]) <= TARGETS[name],
                "coldSamples": cold[name],
                "ratios": ratios[name],
                # CPU time to the first response over the baseline's: what the code costs,
                # without the waits (AWS calls) and far less moved by a busy machine.
                "cpuRatio": statistics.median(cpu_ratios[name]),
                "cpuRatios": cpu_ratios[name],
                "warm": _percentiles(warm[name]),
            }
            for name in functions
        },
    }


def _between(before: float, after: float) -> float:
    """The geometric mean of two baselines: the baseline a ratio is taken against."""
    return math.sqrt(before * after)


def snapstart(cloud: LocalCloud, state: dict[str, Any], *, rounds: int = 5) -> dict[str, Any]:
    """Every SnapStart function's snapshot init once, then per round a new environment restored
    from it answering the function's probe: medians of the restore and the first response (ms)."""
    from localcloud.runner import Invocation, LocalFunction

    local = cloud.regions[REGION]
    names = [name for name in ORDER if name in local.functions and local.functions[name].spec.snap_start]
    calm_chaos(cloud)
    result: dict[str, Any] = {"what": "local emulation: a forked snapshot process, not Firecracker"}
    rows: dict[str, Any] = {}
    for name in names:
        # A function of its own on the same spec: the local cloud's pool and snapshot stay as they are.
        function = LocalFunction(local.functions[name].spec, lambda *line: None, lambda *message: None)
        seen: list[Invocation] = []
        function.on_invocation = seen.append
        try:
            init_ms = _timed(function.prepare)
            for _ in range(rounds):
                sample = probes(cloud, state)[name].invocation(local)
                answer = function.invoke(sample, wait=True)
                check(name, Sample(0.0, {"result": answer}, [], ""))
                function.reap(idle_for=0)  # the next round restores a new environment
        finally:
            function.stop()
        restores = [i.cold_start_ms for i in seen if i.cold_start_ms is not None]
        rows[name] = {
            "initMs": init_ms,
            "restoreMs": statistics.median(restores),
            "firstResponseMs": statistics.median(i.duration_ms for i in seen),
            "restoreSamples": restores,
        }
    result["functions"] = rows
    return result


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def snapstart_table(result: dict[str, Any], baseline_ms: float) -> str:
    lines = [
        f"SnapStart ({result['what']}): snapshot init once, then per round a restored environment's "
        f"restore and first response (median ms); baseline `import boto3` {baseline_ms:.0f} ms",
        f"{'function':<16}{'init ms':>9}{'restore ms':>12}{'first ms':>10}{'ratio':>8}",
    ]
    for name, row in result["functions"].items():
        lines.append(
            f"{name:<16}{row['initMs']:>9.0f}{row['restoreMs']:>12.1f}{row['firstResponseMs']:>10.1f}"
            f"{row['firstResponseMs'] / baseline_ms:>8.2f}"
        )
    return "\n".join(lines)


def _percentiles(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {"n": len(ordered), "p50": at(0.5), "p99": at(0.99)}


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "functions"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return result.stdout.strip() + ("+uncommitted functions/" if dirty else "")


def machine() -> dict[str, Any]:
    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{package: version(package) for package in PACKAGES},
    }


def table(result: dict[str, Any]) -> str:
    baseline = result["baseline"]["ms"]
    lines = [
        f"Cold start, fresh interpreter to first response ({result['rounds']} rounds, median); "
        f"baseline `import boto3` {baseline:.0f} ms; " + "; ".join(result.get("runtimes", {}).values()),
        f"{'function':<16}{'cold ms':>9}{'ratio':>8}{'target':>8}  {'result':<6}{'cpu ratio':>10}"
        f"{'warm p50':>10}{'warm p99':>10}",
    ]
    for name, row in result["functions"].items():
        target = f"{row['target']:.1f}" if row["target"] else "-"
        verdict = "-" if row["pass"] is None else ("pass" if row["pass"] else "FAIL")
        warm = row["warm"]
        p50 = f"{warm['p50']:.1f}" if warm.get("n") else "-"
        p99 = f"{warm['p99']:.1f}" if warm.get("n") else "-"
        lines.append(
            f"{name:<16}{row['coldMs']:>9.0f}{row['ratio']:>8.2f}{target:>8}  {verdict:<6}"
            f"{row['cpuRatio']:>10.2f}{p50:>10}{p99:>10}"
        )
    lines.append(
        "cpu ratio: the interpreter's CPU time to its first response over the baseline's (no waits); "
        "warm: direct handler calls in the warm process, ms"
    )
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--warm-calls", type=int, default=200)
    parser.add_argument("--port", type=int, default=PORT_BASE)
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    parser.add_argument(
        "--importtime",
        metavar="FUNCTION",
        action="append",
        choices=ORDER,
        help="instead: where FUNCTION's cold start spends its import time (python -X importtime "
        "in the worker's environment, its top imports by cumulative time); repeatable",
    )
    parser.add_argument("--top", type=int, default=25, help="how many imports --importtime lists")
    options = parser.parse_args()
    started = time.perf_counter()
    print("Starting the local cloud...", flush=True)
    with bench_cloud.temporary(options.port, "bench-coldstart") as (cloud, state):
        if options.importtime:
            for function in options.importtime:
                print(importtime(cloud, state, function, options.top), flush=True)
            return
        result = run(cloud, state, rounds=options.rounds, warm_calls=options.warm_calls)
        result["snapStart"] = snapstart(cloud, state, rounds=options.rounds)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(table(result))
    print(snapstart_table(result["snapStart"], result["baseline"]["ms"]))
    print(f"took {result['seconds']:.0f} s")
    if options.out:
        options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
