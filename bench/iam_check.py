"""``make iam-check``: least privilege, proven by mutation. On one local cloud (IAM enforced,
one region), every statement of every function's execution role is removed in turn, as
deploying a copy of the program without it would leave IAM; the function's flows then run on
fresh workers, and the statement is *needed* ("killed") when a flow fails or a denial surfaces:
an answer that is not the one expected, an AccessDenied in the function's logs, or one the
local cloud's own services met acting as the role (its SQS event source, its on-failure
destination, its log shipping). The statement is put back before the next.

Before any mutation, every flow must pass with the policies as deployed and no denial at all.
The score is the share of statements killed; a statement no flow needs is either listed in
``EXCEPTIONS`` with its reason, or the check fails. Writes ``bench/iam-check.md``.

``python -m bench.iam_check`` starts its own local cloud (port base 7300, temporary state).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import cloud as bench_cloud
from bench.coldstart import REGION, Probe, Sample, calm_chaos, check, probes

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.runner import LocalFunction

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "iam-check.md"
PORT_BASE = 7300
FLOW_TIMEOUT = 60.0
DENIED = ("AccessDenied", "not authorized to perform")
VERBOSE = os.environ.get("IAM_CHECK_VERBOSE") == "1"
AUTHORIZATION = re.compile(r"not authorized to perform: (?P<action>[\w:*]+) on resource: (?P<resource>\S+)")

# Statements no local flow can need, by Sid, with the reason.
EXCEPTIONS = {
    "Tracing": (
        "X-Ray is not emulated locally (workers run with POWERTOOLS_TRACE_DISABLED); in AWS, Lambda "
        "needs it to send trace segments when active tracing is on "
        "(https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html#services-xray-permissions)"
    ),
    "FaultInjectionReadConfigs": (
        "the FIS Lambda extension reads its fault only while an outage drill runs, and no flow here "
        "runs one (tests/e2e/test_drill.py does, with every statement in place)"
    ),
    "FaultInjectionListConfigs": (
        "the local extension reads its fault with GetObject only; in AWS the extension lists its "
        "folder (https://docs.aws.amazon.com/fis/latest/userguide/use-lambda-actions.html)"
    ),
    "LateEventGuards": (
        "only a page view delivered late (retried, or held through its region's outage) reads its "
        "guard in another replica, and no flow here delivers one late (tests/functions/test_writer.py "
        "covers the read; make bench's blackout ledger makes late deliveries)"
    ),
    "StartDrillTemplates": "no flow here starts an outage drill (tests/e2e/test_drill.py does)",
    "StartDrillExperiments": "no flow here starts an outage drill (tests/e2e/test_drill.py does)",
}


@dataclass
class Flow:
    """One thing a function does for its users, and how to tell that it worked."""

    name: str
    run: Callable[[], str | None]  # None when it worked, else what went wrong


@dataclass
class Outcome:
    function: str
    statement: str  # its Sid, or its actions
    killed: bool
    evidence: str
    exception: str | None = None


class Denials(logging.Handler):
    """Every denial seen while a flow runs: the local cloud's log records and the functions' log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        self.note(logging.Formatter().format(record))

    def note(self, text: str) -> None:
        if any(word in text for word in DENIED):
            with self.guard:
                self.seen.append(text[:20_000])  # a log line with its traceback; _last_line shortens it

    def take(self) -> list[str]:
        with self.guard:
            seen, self.seen = self.seen, []
        return seen


def _http(probe: Probe, state: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(  # noqa: S310 - the local gateway on the loopback
        probe.url(state, REGION), data=probe.body or None, method=probe.method, headers=probe.headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


Check = Callable[[dict[str, str], bytes], str | None]  # (headers, body) -> what is wrong, or None


def _slack_reply_complete(headers: dict[str, str], body: bytes) -> str | None:
    """A /chaos reply that could not read or write a region says so in its text."""
    text = body.decode("utf-8", "replace")
    for sign in ("Could not", "could not", "unknown (", "Nothing changed", "Not applied"):
        if sign in text:
            return f"the reply says {text[:300]!r}"
    return None


def _page_allows_every_region(state: dict[str, Any]) -> Check:
    """The page's CSP lets it call every region's API (the web function reads the registry)."""

    def check(headers: dict[str, str], body: bytes) -> str | None:
        policy = headers.get("content-security-policy", "")
        for region, urls in state["regions"].items():
            origin = "/".join(urls["api"].split("/")[:3])
            if origin not in policy:
                return f"the page may not call {region}'s API ({origin} not in connect-src)"
        return None

    return check


def _through_gateway(
    probe: Probe | Callable[[], Probe], state: dict[str, Any], expected: int = 200, check: Check | None = None
) -> Callable[[], str | None]:
    def run() -> str | None:
        status, headers, body = _http(probe if isinstance(probe, Probe) else probe(), state)
        if status != expected:
            return f"answered {status}, not {expected}: {body[:300]!r}"
        if any(word.encode() in body for word in DENIED):
            return f"the answer names a denial: {body[:300]!r}"
        return check(headers, body) if check is not None else None

    return run


def _direct(function: LocalFunction, make: Callable[[], dict[str, Any]]) -> Callable[[], str | None]:
    def run() -> str | None:
        from localcloud.runner import FunctionError

        try:
            result = function.invoke(make(), wait=True)
        except FunctionError as error:
            message = str(error.payload.get("errorMessage", "")).splitlines()
            return f"raised {error.payload.get('errorType')}: {message[0] if message else ''}"
        try:
            check(function.spec.source, Sample(0.0, {"result": result}, [], ""))
        except RuntimeError as error:
            return str(error)[:300]
        return None

    return run


def _on_failure(function: LocalFunction, denials: Denials) -> Callable[[], str | None]:
    """An asynchronous invocation that fails every attempt, until Lambda sends it to the
    function's on-failure destination as the function's role."""

    def run() -> str | None:
        sent: list[str | None] = []
        original = function.send_to_queue

        def send(queue_arn: str, body: str) -> None:
            try:
                original(queue_arn, body)
            except Exception as error:
                sent.append(f"on-failure destination refused: {error}")
                raise
            sent.append(None)

        function.send_to_queue = send
        try:
            function.invoke_async("not an event this function accepts")
            deadline = time.monotonic() + FLOW_TIMEOUT
            while not sent and not denials.seen and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            function.send_to_queue = original
        if denials.seen:
            return "denied"
        if not sent:
            return f"nothing reached the on-failure destination within {FLOW_TIMEOUT:.0f} s"
        return sent[0]

    return run


def _event_source(
    cloud: LocalCloud, function: LocalFunction, message: Callable[[], dict[str, Any]], denials: Denials
) -> Callable[[], str | None]:
    """A message on the queue the function's event source mapping reads; it worked once the
    message is gone (received, handled and deleted as the function's role)."""
    from localcloud.graph import aws_client

    region = cloud.regions[REGION]
    mapping = next(
        resource["inputs"]
        for resource in region.graph.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
        if resource["inputs"]["functionName"].split(":")[:7] == function.spec.arn.split(":")[:7]
    )
    queue = next(
        q
        for q in region.graph.of_type("aws:sqs/queue:Queue")
        if q["outputs"]["arn"] == mapping["eventSourceArn"]
    )
    url = queue["outputs"]["url"]

    def run() -> str | None:
        sqs = aws_client("sqs", REGION, cloud.moto_url)
        record = message()["Records"][0]
        sqs.send_message(QueueUrl=url, MessageBody=record["body"])
        deadline = time.monotonic() + FLOW_TIMEOUT
        while time.monotonic() < deadline and not denials.seen:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if sum(int(value) for value in attributes.values()) == 0:
                return None
            time.sleep(0.2)
        if denials.seen:
            return "denied"
        return f"the message was still on {queue['outputs']['name']} after {FLOW_TIMEOUT:.0f} s"

    return run


def flows(cloud: LocalCloud, state: dict[str, Any], denials: Denials) -> dict[str, list[Flow]]:
    """Every function's flows: what its users, Slack and the other services ask of it. API
    requests are made once (tokens last an hour); events are made anew for each run, so no
    idempotency record makes a run a no-op."""
    from bench.coldstart import _slack_command

    region = cloud.regions[REGION]
    fns = region.functions
    initial = probes(cloud, state)

    def fresh(name: str) -> Callable[[], dict[str, Any]]:
        return lambda: probes(cloud, state)[name].invocation(region)

    found: dict[str, list[Flow]] = {
        name: [Flow(f"{initial[name].method} {initial[name].path}", _through_gateway(initial[name], state))]
        for name in ("health", "login", "hello", "clicks", "discovery")
    }
    found["web"] = [
        Flow(
            "GET / (its CSP allows every region)",
            _through_gateway(initial["web"], state, 200, _page_allows_every_region(state)),
        )
    ]
    missing = Probe("web", "user", "GET", "/assets/no-such-file.js", {"accept": "*/*"})
    found["web"].append(Flow("GET a missing asset (404, not 403)", _through_gateway(missing, state, 404)))
    found["slack_commands"] = [
        Flow(
            f"/chaos {text}",
            _through_gateway(
                functools.partial(_slack_command, state, text), state, 200, _slack_reply_complete
            ),
        )
        for text in ("status", "fail us-west-2", "recover us-west-2")
    ]
    for name in ("writer", "notifier", "security", "dead_letters"):
        found[name] = [Flow("its event, invoked as its service does", _direct(fns[name], fresh(name)))]
        if fns[name].spec.on_failure:
            found[name].append(Flow("a failing asynchronous invocation", _on_failure(fns[name], denials)))
    found["dead_letters"].append(
        Flow(
            "a dead letter on its queue",
            _event_source(cloud, fns["dead_letters"], fresh("dead_letters"), denials),
        )
    )
    return found


@contextmanager
def _watching(cloud: LocalCloud, denials: Denials) -> Iterator[None]:
    """Denials from every function's log lines and every local cloud log record."""
    originals: dict[str, Any] = {}
    for name, function in cloud.regions[REGION].functions.items():
        originals[name] = function.ship_log

        def tap(group: str, stream: str, line: str, ship: Any = function.ship_log) -> None:
            denials.note(line)
            ship(group, stream, line)

        function.ship_log = tap
    logging.getLogger().addHandler(denials)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(denials)
        for name, function in cloud.regions[REGION].functions.items():
            function.ship_log = originals[name]


def _role_policies(cloud: LocalCloud) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each function's role, inline policy name and document, by source folder."""
    region = cloud.regions[REGION]
    policies = {r["inputs"]["role"]: r for r in region.graph.of_type("aws:iam/rolePolicy:RolePolicy")}
    found = {}
    for resource in region.graph.of_type("aws:lambda/function:Function"):
        role = resource["inputs"]["role"].rsplit("/", 1)[-1]
        policy = policies[role]
        source = resource["inputs"]["handler"].split(".")[0]
        found[source] = (role, policy["outputs"]["name"], json.loads(policy["inputs"]["policy"]))
    return found


def _label(statement: dict[str, Any]) -> str:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    return statement.get("Sid") or ", ".join(actions)


def _settle(cloud: LocalCloud) -> None:
    """Until the log lines of the flow just run are shipped (as the role: a denial there belongs
    to this flow), and an event source's poll has come round."""
    shipper = cloud.shippers[REGION]
    deadline = time.monotonic() + 10
    while not shipper.lines.empty() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)  # the shipper's batching (0.2 s) and an SQS poll's wait (1 s)


def _run_flows(
    cloud: LocalCloud, function: LocalFunction, its_flows: list[Flow], denials: Denials
) -> list[str]:
    """What went wrong in the function's flows on fresh workers; a flow that fails without any
    denial is run once more (a busy machine can time a request out), and counts if it fails again."""
    problems = []
    for flow in its_flows:
        for attempt in (1, 2):
            function.reap(0)  # fresh workers: no cached client, credential or parameter hides a change
            began = time.monotonic()
            problem = flow.run()
            _settle(cloud)
            seen = denials.take()
            if VERBOSE:
                took = time.monotonic() - began
                outcome = problem or "ok"
                print(
                    f"    {function.spec.source}: {flow.name}: {outcome}, {len(seen)} denials ({took:.1f} s)"
                )
            if seen:
                problems.append(f"{flow.name}: denied: {_last_line(seen[0])}")
                break
            if problem is None:
                break
            if attempt == 2:
                problems.append(f"{flow.name}: {problem}")
    return problems


def _last_line(text: str) -> str:
    """The denial in a log line or record, as short as it can say it: the action and resource."""
    found = AUTHORIZATION.search(text)
    if found:
        return f"{found['action']} on {found['resource'].rstrip(chr(34) + ',.')}"
    at = min((text.find(word) for word in DENIED if word in text), default=0)
    return " ".join(text[max(0, at - 60) : at + 180].split())


def run(cloud: LocalCloud, state: dict[str, Any]) -> dict[str, Any]:
    from localcloud.graph import aws_client

    calm_chaos(cloud)
    iam = aws_client("iam", REGION, cloud.moto_url)
    denials = Denials()
    all_flows = flows(cloud, state, denials)
    functions = cloud.regions[REGION].functions
    policies = _role_policies(cloud)
    outcomes: list[Outcome] = []
    with _watching(cloud, denials):
        print("Every flow with the policies as deployed...", flush=True)
        baseline = {name: _run_flows(cloud, functions[name], all_flows[name], denials) for name in all_flows}
        broken = {name: problems for name, problems in baseline.items() if problems}
        if broken:
            return {"baseline": broken, "outcomes": [], "score": 0.0}
        for name, (role, policy_name, document) in sorted(policies.items()):
            for index, statement in enumerate(document["Statement"]):
                label = _label(statement)
                if label in EXCEPTIONS:
                    outcomes.append(Outcome(name, label, False, "", EXCEPTIONS[label]))
                    continue
                kept = [s for i, s in enumerate(document["Statement"]) if i != index]
                iam.put_role_policy(
                    RoleName=role,
                    PolicyName=policy_name,
                    PolicyDocument=json.dumps({**document, "Statement": kept}),
                )
                try:
                    problems = _run_flows(cloud, functions[name], all_flows[name], denials)
                finally:
                    iam.put_role_policy(
                        RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document)
                    )
                    calm_chaos(cloud)  # a Slack flow may have failed a region half way
                outcome = Outcome(
                    name, label, bool(problems), problems[0] if problems else "every flow passed"
                )
                outcomes.append(outcome)
                print(
                    f"  {name:15} {label[:50]:50} {'needed' if outcome.killed else 'NOT NEEDED'}", flush=True
                )
    mutated = [o for o in outcomes if o.exception is None]
    killed = sum(o.killed for o in mutated)
    return {
        "baseline": {},
        "outcomes": [o.__dict__ for o in outcomes],
        "statements": len(outcomes),
        "mutated": len(mutated),
        "killed": killed,
        "score": round(100.0 * killed / len(mutated), 1) if mutated else 0.0,
    }


def report(result: dict[str, Any], seconds: float) -> str:
    lines = [
        "# IAM check: least privilege, proven by mutation",
        "",
        f"Measured by `make iam-check` on {datetime.now(UTC).isoformat(timespec='seconds')}, "
        f"in {seconds:.0f} s, "
        f"on the local cloud ({REGION}; moto with IAM enforced, not AWS). Each statement of each "
        "function's execution role was removed in turn and the function's flows run on fresh workers.",
        "",
    ]
    if result["baseline"]:
        lines += ["**The flows failed with the policies as deployed:**", ""]
        lines += [f"- {name}: {'; '.join(problems)}" for name, problems in result["baseline"].items()]
        return "\n".join(lines) + "\n"
    lines += [
        f"**Mutation score: {result['score']}%** "
        f"({result['killed']} of {result['mutated']} statements needed; "
        f"{result['statements'] - result['mutated']} listed exceptions).",
        "",
        "| function | statement | needed | evidence |",
        "|---|---|---|---|",
    ]
    for outcome in result["outcomes"]:
        if outcome["exception"]:
            needed, evidence = "exception", outcome["exception"]
        else:
            needed, evidence = ("yes" if outcome["killed"] else "**no**"), outcome["evidence"]
        evidence = evidence.replace("|", "\\|").replace("\n", " ")[:240]
        lines.append(f"| {outcome['function']} | {outcome['statement']} | {needed} | {evidence} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=PORT_BASE)
    options = parser.parse_args()
    started = time.perf_counter()
    print("Starting the local cloud...", flush=True)
    with bench_cloud.temporary(options.port, "iam-check") as (cloud, state):
        result = run(cloud, state)
    text = report(result, time.perf_counter() - started)
    REPORT.write_text(text)
    print(text)
    survived = [o for o in result["outcomes"] if not o["killed"] and not o["exception"]]
    raise SystemExit(1 if result["baseline"] or survived else 0)


if __name__ == "__main__":
    main()
