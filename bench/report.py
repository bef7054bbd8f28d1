"""bench/report.md from the figures `make bench` measured (bench/report.json holds them all)."""

from __future__ import annotations

from typing import Any


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _verdict(passed: bool | None) -> str:
    return "" if passed is None else ("pass" if passed else "**miss**")


def _kib(size: int) -> str:
    return f"{size / 1024:.1f}"


def _failover_text(failover: dict[str, Any]) -> str:
    region = failover.get("region")
    if failover.get("clicksFailedOver"):
        noticed = (
            f"the first click to meet it got its 503 {failover['secondsToFirst503']} s after `/chaos fail` "
            "(the functions cache the chaos state for up to 3 s) and was resent to the other region; "
            f"{failover['clicksFailedOver']} clicks failed over "
            f"(p50 {failover['failedOverClickMs'].get('p50')} ms including the 503)"
        )
    else:
        noticed = "the client's own health probe saw the 503 first, so no click had to fail over"
    return (
        f"Failover of {region}: {noticed}; every click went to the other region "
        f"{failover.get('secondsToMoveOff')} s after the command; "
        f"{failover.get('userVisibleErrorsDuringFailure')} errors seen during the failure "
        f"({failover.get('clicksDuringFailure')} clicks); {region} healthy again in the client "
        f"{failover.get('secondsToHealthyAgain')} s after `/chaos recover` (it probes every 10 s)."
    )


def _ledger_rows(ledger: dict[str, Any]) -> list[str]:
    return _table(
        ["accepted", "stored once", "dead-lettered and handled", "lost", "duplicated", "user-visible errors"],
        [
            [
                ledger["accepted"],
                ledger["stored_once"],
                ledger["dead_lettered_and_handled"],
                ledger["lost"],
                ledger["duplicated"],
                ledger["rejected"],
            ]
        ],
    )


def _counters_text(ledger: dict[str, Any]) -> str:
    return (
        f"The per-region counters grew by {ledger['counter_delta']} "
        f"for {ledger['stored_once']} clicks stored "
        f"({ledger['lost_increments']} increments missing); {ledger['stored_but_reported_failed']} clicks "
        "were stored although the user was told they failed. Clicks served by region: "
        + ", ".join(f"{region} {count}" for region, count in sorted(ledger["served_by"].items()))
        + f". Click latency p50 {ledger['latency_ms'].get('p50')} ms, "
        f"p99 {ledger['latency_ms'].get('p99')} ms. "
        f"The pipelines settled {ledger['settle_seconds']} s after the last click."
    )


def _seconds_or_none(value: float | None, unit: str = "s") -> str:
    return "none" if value is None else f"{value:g} {unit}"


def blackout_section(ledger: dict[str, Any]) -> list[str]:
    """The blackout ledger's section: the same accounting, then the outage's figures."""
    settings, figures, failover = ledger["settings"], ledger["blackout"], ledger["failover"]
    region = figures.get("region")
    who = f"{region}, the primary (its user pool with it)," if figures.get("primary") else f"{region}"
    limit = settings["restore_within"]
    lines = [
        "## Fault injection: a blackout mid-run",
        "",
        f"The same ledger, {settings['clicks']} clicks with both writers failing "
        f"{settings['writer_failure_rate']:.0%} of deliveries, from a user near "
        f"{settings['blackout_region']} (every request to another region waits {settings['far_ms']} ms "
        "first, so the unchanged router "
        f"prefers {settings['blackout_region']}), while {who} is blacked out after "
        f"{failover.get('failedAfterClicks')} clicks (from a third of the way in, once it serves) through "
        "the local control API (`POST {control}/regions/<region>/blackout`: its APIs refuse connections, "
        "its functions and services stop, moto drops its AWS calls, replication to and from it queues) and "
        f"restored after {failover.get('recoveredAfterClicks')} (`/restore`). "
        "A local emulation of a regional outage, not an AWS one. "
        "Counted once the restore's backlog drained.",
        "",
    ]
    lines += _ledger_rows(ledger)
    met = failover.get("firstMet")
    if met:
        first = (
            (
                f"sent {met['secondsAfterCommand']:g} s after the command"
                if met["secondsAfterCommand"] >= 0
                else f"in flight at the command (sent {-met['secondsAfterCommand']:g} s before it)"
            )
            + f", its first attempt {met['outcome']}; "
            + (
                f"retried in {met['retriedIn']}, it succeeded {met['msToSuccess']} ms after it was sent"
                if met["succeeded"]
                else "it failed in front of the user"
            )
        )
    else:
        first = "none: the client's own health probe saw the outage first"
    latency = figures.get("replicationLatency") or {}
    pairs = latency.get("pairs") or {}
    counts = figures.get("countsByRegion") or {}
    healthy, drained = figures.get("secondsToHealthy"), figures.get("drainSeconds")
    rows = [
        [
            "blackout command to confirmed (every API closed, moto told)",
            _seconds_or_none(figures.get("commandSeconds")),
            "",
        ],
        [
            "time to shift: command to every click sent first to another region",
            _seconds_or_none(failover.get("secondsToMoveOff")),
            "",
        ],
        ["the first click to meet the outage", first, ""],
        [
            "user-visible errors during the outage",
            f"{failover.get('userVisibleErrorsDuringFailure')} of "
            f"{failover.get('clicksDuringFailure')} clicks",
            _verdict(failover.get("userVisibleErrorsDuringFailure") == 0),
        ],
        ["outage, command to restore", _seconds_or_none(figures.get("outageSeconds")), ""],
        [
            f"restore to {region}'s `/health` answering 200",
            _seconds_or_none(healthy),
            _verdict(healthy is not None and healthy <= limit),
        ],
        [
            f"restore to {region} healthy in the client (it probes every 10 s)",
            _seconds_or_none(failover.get("secondsToHealthyAgain")),
            "",
        ],
        [f"writes queued for {region} at the restore", figures.get("backlogAtRestore"), ""],
        [
            "backlog drained: restore to the last queued write applied",
            _seconds_or_none(drained),
            _verdict(drained is not None and drained <= limit),
        ],
        [
            "the user's views as each region sums them, after the drain",
            ", ".join(f"{name} {value}" for name, value in sorted(counts.items()))
            + f" (total {figures.get('countsTotal')})",
            _verdict(bool(figures.get("countsConverged"))),
        ],
        [
            "largest replication lag (ReplicationLatency, stream record to write applied)",
            _seconds_or_none(latency.get("maxMs"), "ms")
            + (f", {latency['maxPair'].replace('>', ' to ')}" if latency.get("maxPair") else ""),
            "",
        ],
    ]
    lines += _table(["figure", "value", f"target ≤ {limit:g} s where judged"], rows)
    if pairs:
        lines += [
            "ReplicationLatency over the run, per direction, from each source region's CloudWatch "
            "(moto, written by the local replicator: one datapoint per replicated write; the writes "
            "queued during the outage carry its length):",
            "",
        ]
        lines += _table(
            ["from", "to", "writes", "average ms", "largest ms"],
            [
                [pair.split(">")[0], pair.split(">")[1], row["samples"], row["averageMs"], row["maxMs"]]
                for pair, row in sorted(pairs.items())
            ],
        )
    lines += [_counters_text(ledger), ""]
    return lines


def render(data: dict[str, Any]) -> str:
    machine = data["machine"]
    lines = [
        "# Benchmark report",
        "",
        f"Measured by `make bench` on {data['date']} at commit `{data['commit']}`, in {data['seconds']} s, "
        "on the local cloud (moto and local emulation; not AWS). Every figure below is from this one run; "
        "ratios compare measurements taken side by side, so the machine's load affects both sides alike.",
        "",
        f"Machine: {machine['platform']}, {machine['cpus']} CPUs, Python {machine['python']}, "
        f"Node {machine['node']}. Versions: boto3 {machine['boto3']}, botocore {machine['botocore']}, "
        f"Powertools {machine['aws-lambda-powertools']}, moto {machine['moto']}, pulumi {machine['pulumi']}, "
        f"pulumi-aws {machine['pulumi-aws']}, werkzeug {machine['werkzeug']}.",
        "",
    ]
    missed = data["missed"]
    lines += ["**Every target met.**" if not missed else "**Missed:** " + "; ".join(missed) + ".", ""]

    ledger = data["ledger"]
    failover = ledger["failover"]
    settings = ledger["settings"]
    lines += [
        "## Fault injection: the click ledger",
        "",
        f"{settings['clicks']} clicks through the web app's own failover logic (`static/assets/regions.js`, "
        f"run by `bench/ledger_client.mjs`), one every {settings['interval_ms']} ms at most, while both "
        f"writers fail {settings['writer_failure_rate']:.0%} of deliveries and {failover.get('region')} is "
        "failed and recovered from Slack mid-run.",
        "",
    ]
    lines += _ledger_rows(ledger)
    lines += [
        _counters_text(ledger),
        "",
        _failover_text(failover),
        "",
    ]
    if data.get("blackoutLedger"):
        lines += blackout_section(data["blackoutLedger"])

    cold = data["coldStart"]
    lines += [
        "## Cold starts",
        "",
        f"Fresh interpreter to first response, median of {cold['rounds']} rounds after one warm-up round; "
        f"baseline: a fresh interpreter running `import boto3`, {cold['baseline']['ms']:.0f} ms (median), "
        "run right before each function's start in every round, once the local cloud's functions "
        "have been idle for 0.3 s (what the last probe set off has ended). "
        "A round's ratio is the start's time over the geometric mean of the baselines just before and "
        "just after it; the ratio is the median over the rounds, and the target is on it. "
        "CPU ratio: the same for the interpreter's CPU time to its first response, which leaves out "
        "waits (AWS calls) and moves far less with the machine's load. "
        "Both run as a worker does: "
        + "; ".join(cold.get("runtimes", {}).values())
        + ", with the function's packaged bytecode, its layers and the runtime's boto3.",
        "",
    ]
    lines += _table(
        ["function", "cold ms", "ratio", "target", "result", "CPU ratio"],
        [
            [
                name,
                f"{row['coldMs']:.0f}",
                f"{row['ratio']:.2f}",
                row["target"],
                _verdict(row["pass"]),
                f"{row['cpuRatio']:.2f}" if "cpuRatio" in row else "",
            ]
            for name, row in cold["functions"].items()
        ],
    )
    snap = cold.get("snapStart")
    if snap:
        lines += [
            f"SnapStart, {snap['what']}: each function's snapshot taken once (its init and before-snapshot "
            "hooks), then in every round a new environment restored from it (a fork running the "
            "after-restore hooks) answers the same probe. Restore: request to the restored environment "
            "ready; first response: restore plus the first invocation; the ratio is the first response "
            "over the baseline above. Milliseconds, medians. Lambda restores a Firecracker microVM "
            "snapshot instead, so these figures say what the hooks and the code cost after a restore, "
            "not what Lambda's restore takes.",
            "",
        ]
        baseline = cold["baseline"]["ms"]
        lines += _table(
            ["function", "init ms", "restore ms", "first response ms", "ratio"],
            [
                [
                    name,
                    f"{row['initMs']:.0f}",
                    f"{row['restoreMs']:.1f}",
                    f"{row['firstResponseMs']:.1f}",
                    f"{row['firstResponseMs'] / baseline:.2f}",
                ]
                for name, row in snap["functions"].items()
            ],
        )

    gateway = data["latency"]
    lines += [
        "## Warm latency: through the gateway against a direct call",
        "",
        "Direct: the event invoked on the function's warm Lambda worker (as `aws lambda invoke` would). "
        "Gateway: the same request over HTTP to the local gateway (a new connection, routing, the JWT check, "
        "throttling, building the event), which invokes the same worker. The two alternate, so both see the "
        "same machine load; requests are paced below the route's throttling, and each starts once no "
        f"function has run for {gateway.get('settleSeconds', 0)} s (what the request before it set off, "
        "such as a click's event reaching the writer, is not timed with it). Overhead: per gateway request, "
        "the client's time minus that request's own invocation (API Gateway's latency minus its integration "
        "latency, plus the client's HTTP exchange). Handler: the handler alone, called in-process in a warm "
        f"interpreter. Each route's requests are spread over {gateway.get('rounds', 1)} rounds that visit "
        "every route in turn; a p50 is the median of the rounds' p50s (each round's overhead p50 in the last "
        "column), so a busy spell of the machine lands in one round of every route, not on one route; p99s "
        "are over every request. Milliseconds. "
        f"Target: p50 overhead at most {gateway['targetOverheadP50Ms']} ms.",
        "",
    ]
    lines += _table(
        [
            "function",
            "handler p50",
            "direct p50",
            "direct p99",
            "gateway p50",
            "gateway p99",
            "ratio p50",
            "ratio p99",
            "overhead p50",
            "overhead p99",
            "result",
            "overhead p50 per round",
        ],
        [
            [
                name,
                row["handler"]["p50"],
                row["direct"]["p50"],
                row["direct"]["p99"],
                row["gateway"]["p50"],
                row["gateway"]["p99"],
                row["ratioP50"],
                row["ratioP99"],
                row["overheadP50Ms"],
                row["overheadP99Ms"],
                _verdict(row["pass"]),
                " ".join(str(value) for value in row.get("overheadP50Rounds", [])),
            ]
            for name, row in gateway["functions"].items()
        ],
    )

    throttling = data["throttling"]
    lines += [
        "## Throttling under load",
        "",
        "Twice the limit offered on a fixed schedule from another process; the accepted rate is counted from "
        f"the first 429 (the burst spent) to the end. Tolerance {throttling['tolerance']:.0%}.",
        "",
    ]
    lines += _table(
        [
            "limit",
            "rate/burst",
            "offered/s",
            "sent",
            "accepted",
            "429",
            "5xx",
            "accepted/s after the burst",
            "result",
        ],
        [
            [
                job["label"],
                f"{job['rateLimit']:g}/{job['burstLimit']}",
                f"{job['offeredPerSecond']:g}",
                job["sent"],
                job["accepted"],
                job["throttled"],
                job["errors5xx"],
                job["steadyAcceptedPerSecond"],
                _verdict(job["pass"]),
            ]
            for job in throttling["jobs"]
        ],
    )
    rss = throttling["rssMb"]
    lines += [
        "Memory of the whole local cloud (this process, moto, every Lambda worker), MB: "
        + ", ".join(f"{moment} {value}" for moment, value in rss.items())
        + ".",
        "",
    ]

    shape = data.get("footprint")
    if shape:
        lines += ["## The local cloud's start and idle memory", ""]
        lines += render_footprint(shape)

    lines += ["## Synth", ""]
    lines += _table(
        ["stack", "resources", "seconds (median of 3, fresh interpreter)"],
        [[stack, row["resources"], row["seconds"]] for stack, row in data["synth"].items()],
    )
    lines += ["## Deployment packages", ""]
    lines += _table(
        ["package", "kind", "zip KiB", "unzipped KiB", "files"],
        [
            [name, row["kind"], _kib(row["zipBytes"]), _kib(row["unzippedBytes"]), row["files"]]
            for name, row in data["packages"].items()
        ],
    )
    lines += ["Powertools comes from AWS's public layer and boto3 from the runtime; neither is packaged.", ""]
    return "\n".join(lines)


def _ready_rounds_label(shape: dict[str, Any]) -> str:
    return f", median of {len(shape['readyRounds'])} starts" if "readyRounds" in shape else ""


def _ready_figure(shape: dict[str, Any]) -> str:
    """The median, with every start's time (a report from before the median: its one start)."""
    if "readyRounds" not in shape:
        return str(shape["readySeconds"])
    return f"{shape['readySeconds']} ({', '.join(f'{value:g}' for value in shape['readyRounds'])})"


def render_footprint(shape: dict[str, Any]) -> list[str]:
    """The table of the local cloud's start and idle figures (``bench.footprint``)."""
    return _table(
        ["figure", "before", "now", "target", "result"],
        [
            [
                "`make demo` ready (start to state.json), s" + _ready_rounds_label(shape),
                shape["before"]["readySeconds"],
                _ready_figure(shape),
                f"≤ {shape['targets']['readySeconds']:g}",
                _verdict(shape["readySeconds"] <= shape["targets"]["readySeconds"]),
            ],
            [
                f"every process, {shape['idleSeconds']:g} s after ready, MB",
                shape["before"]["idleRssMb"],
                shape["idleRssMb"],
                f"≤ {shape['targets']['idleRssMb']:g}",
                _verdict(shape["idleRssMb"] <= shape["targets"]["idleRssMb"]),
            ],
            [
                f"CPU while idle (its own pollers and probes), % of one core over "
                f"{shape['cpuSampleSeconds']:g} s",
                shape["before"]["idleCpuPercent"],
                shape["idleCpuPercent"],
                "-",
                "-",
            ],
        ],
    )
