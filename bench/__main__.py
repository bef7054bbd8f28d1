"""`make bench`: measure the system on the local cloud and write bench/report.md and report.json.

Sections, in order: synth time per stack and package sizes (no cloud needed); then, on a local
cloud started in this process on its own ports and state directory: each function's cold start
against a bare ``import boto3``; warm latency through the gateway against direct handler calls;
throttling under load; the fault-injection ledger, with the serving region failed from Slack, then
again with the primary blacked out (a real outage, ``localcloud.control``). Every load is bounded
in count and time and sent to 127.0.0.1 only. Exits 1 when a figure misses its target (the report says which).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cloud as bench_cloud
from bench import coldstart, footprint, latency, ledger, load, memory, program, report

HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
THROTTLE_TOLERANCE = 0.15


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def node_version() -> str:
    try:
        answer = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "not installed"
    return answer.stdout.strip()


def throttling(cloud: Any, state: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Twice each limit, offered for ``seconds``: the accepted rate once the burst is spent."""
    region = cloud.regions[REGION]
    user, slack = region.apis["user"], region.apis["slack"]
    login_route, _ = user.match("POST", "/login")
    assert login_route is not None and login_route.bucket is not None
    demo = state["demoUser"]
    urls = state["regions"][REGION]
    from localcloud.slack import command_body

    login = {
        "body": json.dumps({"username": demo["username"], "password": demo["password"]}),
        "headers": {"content-type": "application/json"},
    }
    command = {
        "body": command_body(state["slack"]["teamId"], "status").decode(),
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "slack_secret": state["slack"]["signingSecret"],
    }
    runs = [
        ("user API stage (GET /health)", user.stage_bucket, "stage", f"{urls['api']}/health", "GET", {}),
        (
            "user API stage, again (memory)",
            user.stage_bucket,
            "stage-again",
            f"{urls['api']}/health",
            "GET",
            {},
        ),
        ("route POST /login", login_route.bucket, "login", f"{urls['api']}/login", "POST", login),
        (
            "Slack API stage",
            slack.stage_bucket,
            "slack",
            f"{urls['slackApi']}/slack/commands",
            "POST",
            command,
        ),
    ]
    results = []
    rss = {"before": memory.tree_rss_mb()}
    for label, bucket, name, url, method, extra in runs:
        time.sleep(bucket.capacity / bucket.rate + 1)  # a full bucket, as after a quiet spell
        job = load.Job(name, url, method, offered=bucket.rate * 2, seconds=seconds, **extra)
        output = subprocess.run(
            [sys.executable, "-m", "bench.load"],
            input=json.dumps(asdict(job)),
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE.parent,
            timeout=seconds * 3 + 60,
        )
        result = json.loads(output.stdout)
        steady = result["steadyAcceptedPerSecond"]
        deviation = abs(steady - bucket.rate) / bucket.rate if steady is not None else None
        result.update(
            label=label,
            rateLimit=bucket.rate,
            burstLimit=bucket.capacity,
            deviation=round(deviation, 3) if deviation is not None else None,
        )
        result["pass"] = (
            deviation is not None and deviation <= THROTTLE_TOLERANCE and result["errors5xx"] == 0
        )
        rss[f"after {name}"] = memory.tree_rss_mb()
        results.append(result)
        log(f"throttling {label}: {steady}/s accepted, limit {bucket.rate}/s, 5xx {result['errors5xx']}")
    return {"tolerance": THROTTLE_TOLERANCE, "jobs": results, "rssMb": rss}


def failures(data: dict[str, Any]) -> list[str]:
    """Every figure that misses its target, in words."""
    missed = []
    for name, row in data["coldStart"]["functions"].items():
        if row["pass"] is False:
            missed.append(f"cold start of {name}: ratio {row['ratio']:.2f} > {row['target']}")
    for name, row in data["latency"]["functions"].items():
        if not row["pass"]:
            missed.append(
                f"gateway overhead of {name}: {row['overheadP50Ms']} ms > {latency.TARGET_OVERHEAD_P50_MS} ms"
            )
    for job in data["throttling"]["jobs"]:
        if not job["pass"]:
            missed.append(f"throttling {job['label']}: deviation {job['deviation']}, 5xx {job['errors5xx']}")
    shape = data.get("footprint")
    if shape and shape["readySeconds"] > shape["targets"]["readySeconds"]:
        missed.append(
            f"local cloud ready in {shape['readySeconds']} s > {shape['targets']['readySeconds']} s"
        )
    if shape and shape["idleRssMb"] > shape["targets"]["idleRssMb"]:
        missed.append(f"local cloud idle memory {shape['idleRssMb']} MB > {shape['targets']['idleRssMb']} MB")
    if not data["ledger"]["holds"]:
        missed.append("ledger: a click was lost, duplicated or failed in front of the user")
    blackout = data.get("blackoutLedger")
    if blackout is not None:
        if not blackout["holds"]:
            missed.append("blackout ledger: a click was lost, duplicated or failed in front of the user")
        missed += [f"blackout ledger: {line}" for line in blackout["recovered"]]
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "7400")))
    parser.add_argument("--clicks", type=int, default=1000, help="clicks in the ledger run (default 1000)")
    parser.add_argument("--writer-failure-rate", type=float, default=0.2, help="default 0.2")
    parser.add_argument("--rounds", type=int, default=15, help="cold starts per function (default 15)")
    parser.add_argument("--load-seconds", type=float, default=10.0, help="per throttling run (default 10)")
    parser.add_argument("--output", type=Path, default=HERE)
    options = parser.parse_args()
    started = time.perf_counter()

    data: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": coldstart._commit(),
        "machine": {**coldstart.machine(), "node": node_version()},
    }
    log("footprint: make demo's start and its memory once idle")
    data["footprint"] = footprint.measure(options.port + 200)
    log(
        f"footprint: ready in {data['footprint']['readySeconds']} s, "
        f"{data['footprint']['idleRssMb']} MB after {data['footprint']['idleSeconds']:g} s idle, "
        f"then {data['footprint']['idleCpuPercent']}% of a core"
    )
    log("synth: each stack three times")
    data["synth"] = program.synth_times()
    data["packages"] = program.package_sizes()

    log(f"starting a local cloud on ports {options.port}+")
    with bench_cloud.temporary(options.port, "bench-localcloud") as (cloud, state):
        log(f"cold starts: {options.rounds} rounds")
        data["coldStart"] = coldstart.run(cloud, state, rounds=options.rounds)
        log(f"SnapStart (local emulation): {options.rounds} restores per function")
        data["coldStart"]["snapStart"] = coldstart.snapstart(cloud, state, rounds=options.rounds)
        log(f"warm latency: {latency.ROUNDS} rounds over the API functions")
        data["latency"] = latency.run(cloud, state, handlers=data["coldStart"]["functions"], log=log)
        data["throttling"] = throttling(cloud, state, options.load_seconds)
        settings = ledger.LedgerSettings(
            clicks=options.clicks, writer_failure_rate=options.writer_failure_rate
        )
        outcome = ledger.run(state, settings, log=log)
        data["ledger"] = {**outcome.to_json(), "holds": outcome.holds()}
        settings = ledger.LedgerSettings(
            clicks=options.clicks, writer_failure_rate=options.writer_failure_rate, fault=ledger.BLACKOUT
        )
        outcome = ledger.run(state, settings, log=log)
        data["blackoutLedger"] = {
            **outcome.to_json(),
            "holds": outcome.holds(),
            "recovered": outcome.recovered(),
        }

    data["seconds"] = round(time.perf_counter() - started, 1)
    data["missed"] = failures(data)
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "report.json").write_text(json.dumps(data, indent=2) + "\n")
    (options.output / "report.md").write_text(report.render(data))
    log(f"wrote {options.output / 'report.md'} and report.json in {data['seconds']} s")
    for line in data["missed"]:
        log(f"MISSED: {line}")
    sys.exit(1 if data["missed"] else 0)


if __name__ == "__main__":
    main()
