"""Cold starts: every function from a fresh interpreter to its first response, against a bare
``import boto3`` in a fresh interpreter, on a running local cloud (one region). Both run on the
runtime's Python with the packages a worker gets (``localcloud.runtimes``): the function's zip
with its bytecode, its layers and the runtime's boto3.

Each round runs the baseline, then every function once, so machine noise hits all alike; a
function's ratio in a round is its time over that round's baseline, and the figure reported is
the median over rounds. Each function runs in a fresh ``python -c`` with exactly its Lambda
environment and code paths (``FunctionSpec``), imports its handler, answers one realistic
event (``probes``: built by the local gateway itself for API routes, so the event is the one
the gateway would send) and then, still warm, times further direct handler calls.

``python -m bench.coldstart`` starts its own local cloud (port base 7100, temporary state) and
prints the table.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.settings import ACCOUNT
from localcloud.slack import command_body, sign

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.graph import Region
    from localcloud.runner import FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
PORT_BASE = 7100
TARGET_RATIO = 1.5
PACKAGES = ("boto3", "botocore", "aws-lambda-powertools", "moto", "pulumi", "pulumi-aws", "werkzeug")
# Issue 6: the functions users (and Slack) wait on; the others are reported without a target.
TARGETS = ("health", "login", "hello", "clicks", "discovery", "web", "slack_commands")
ORDER = (*TARGETS, "writer", "dead_letters", "notifier", "security")

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
    answers.write("{}\\n")
    answers.flush()
    raise SystemExit
import importlib
module, _, name = request["handler"].rpartition(".")
handler = getattr(importlib.import_module(module), name)
context = type("Context", (), {**request["context"], "get_remaining_time_in_millis": lambda self: 30000})()
event = request["event"]
try:
    answer = {"result": handler(event, context)}
except Exception as error:
    import traceback
    answer = {"error": "".join(traceback.format_exception(error))}
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
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return str(json.loads(response.read())["idToken"])


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


def spawn(spec: FunctionSpec, event: Any = None, warm: int = 0, *, baseline: bool = False) -> Sample:
    """A fresh interpreter of the function's runtime answering one request (or, as the baseline,
    importing the runtime's boto3): the time from process start to its first answer, then
    ``warm`` direct handler calls timed inside it. As a worker, it writes no bytecode."""
    request = {
        "handler": None if baseline else spec.handler,
        "paths": spec.paths[-1:] if baseline else spec.paths,  # the last is the runtime's own
        "context": {} if baseline else _context(spec),
        "event": event,
        "warm": warm,
    }
    line = json.dumps(request).encode() + b"\n"
    with tempfile.TemporaryFile() as logs:
        started = time.perf_counter()
        process = subprocess.Popen(
            [spec.python, "-I", "-S", "-B", "-c", BOOTSTRAP],
            env=spec.environment,
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
        tail = logs.read()[-4000:].decode("utf-8", "replace")
    if not first:
        raise RuntimeError(f"{'the baseline' if baseline else spec.source} gave no answer:\n{tail}")
    return Sample(cold_ms, json.loads(first), [] if baseline else json.loads(rest), tail)


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
    # As the local cloud's admin: moto enforces IAM, and made-up keys are refused.
    ssm = aws_client("ssm", region, cloud.moto_url)
    ssm.put_parameter(
        Name=f"{spec.environment['CHAOS_PARAMETER_PREFIX']}/{region}",
        Value=json.dumps({"failed": False, "errorRate": 0, "writerFailureRate": 0}),
        Type="String",
        Overwrite=True,
    )


def run(
    cloud: LocalCloud, state: dict[str, Any], *, rounds: int = 5, warm_calls: int = 200
) -> dict[str, Any]:
    """Every function's cold start (median ms, median ratio to the baseline) and its warm direct
    handler calls (p50/p99 over ``warm_calls``, spread over the rounds)."""
    local = cloud.regions[REGION]
    functions = [name for name in ORDER if name in local.functions]
    calm_chaos(cloud)
    reference = local.functions["health"].spec
    per_round = -(-warm_calls // rounds)
    baselines: list[float] = []
    cold: dict[str, list[float]] = {name: [] for name in functions}
    ratios: dict[str, list[float]] = {name: [] for name in functions}
    warm: dict[str, list[float]] = {name: [] for name in functions}
    # Round 0 is not counted: the first interpreters after the local cloud starts read their
    # files from a cold page cache (a baseline of several hundred ms), which says nothing of the code.
    for index in range(-1, rounds):
        requests = probes(cloud, state)
        warm_now = max(0, min(per_round, warm_calls - index * per_round)) if index >= 0 else 0
        baseline = spawn(reference, baseline=True).cold_ms
        for name in functions:
            spec = local.functions[name].spec
            sample = spawn(spec, requests[name].invocation(local), warm_now)
            check(name, sample)
            if index < 0:
                continue
            cold[name].append(sample.cold_ms)
            ratios[name].append(sample.cold_ms / baseline)
            warm[name].extend(sample.warm_ms)
        if index >= 0:
            baselines.append(baseline)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "runtimes": {name: runtime.describe() for name, runtime in sorted(cloud.runtimes.items())},
        "region": REGION,
        "rounds": rounds,
        "warmCalls": warm_calls,
        "targetRatio": TARGET_RATIO,
        "baseline": {"what": "import boto3", "ms": statistics.median(baselines), "samples": baselines},
        "functions": {
            name: {
                "coldMs": statistics.median(cold[name]),
                "ratio": statistics.median(ratios[name]),
                "target": TARGET_RATIO if name in TARGETS else None,
                "pass": statistics.median(ratios[name]) <= TARGET_RATIO if name in TARGETS else None,
                "coldSamples": cold[name],
                "ratios": ratios[name],
                "warm": _percentiles(warm[name]),
            }
            for name in functions
        },
    }


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
        f"{'function':<16}{'cold ms':>9}{'ratio':>8}{'target':>8}  {'result':<6}"
        f"{'warm p50':>10}{'warm p99':>10}",
    ]
    for name, row in result["functions"].items():
        target = f"{row['target']:.1f}" if row["target"] else "-"
        verdict = "-" if row["pass"] is None else ("pass" if row["pass"] else "FAIL")
        warm = row["warm"]
        p50 = f"{warm['p50']:.1f}" if warm.get("n") else "-"
        p99 = f"{warm['p99']:.1f}" if warm.get("n") else "-"
        lines.append(
            f"{name:<16}{row['coldMs']:>9.0f}{row['ratio']:>8.2f}{target:>8}  {verdict:<6}{p50:>10}{p99:>10}"
        )
    lines.append("warm: direct handler calls in the warm process, ms")
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warm-calls", type=int, default=200)
    parser.add_argument("--port", type=int, default=PORT_BASE)
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    options = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as state_dir:
        os.environ["LOCALCLOUD_STATE_DIR"] = state_dir
        from localcloud import main as localcloud_main

        print("Starting the local cloud...", flush=True)
        cloud, state, extras = localcloud_main.start(options.port)
        try:
            result = run(cloud, state, rounds=options.rounds, warm_calls=options.warm_calls)
        finally:
            localcloud_main.shutdown(cloud, extras)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(table(result))
    print(f"took {result['seconds']:.0f} s")
    if options.out:
        options.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
