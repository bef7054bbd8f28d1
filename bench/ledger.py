"""Fault injection with a ledger: every accepted click is stored once or dead-lettered and handled.

A run against a running local cloud (only its public surfaces: the HTTP APIs, the Slack
stand-in's console, and moto for state):

1. Both regions stop injecting click errors (``/chaos errors 0``) and their writers fail a
   fraction ``writer_failure_rate`` of deliveries (the chaos state's ``writerFailureRate``).
2. ``bench/ledger_client.mjs`` clicks ``clicks`` times through the web app's own failover logic
   (``static/assets/regions.js``, unchanged). A third of the way in, the region serving the
   clicks is failed with ``/chaos fail``; two thirds in, it is recovered.
3. Once the pipelines settle, every accepted click (HTTP 200, its ``clickId``) is looked up:
   stored (its idempotency guard item exists), dead-lettered and handled (the DLQ handler's
   record names its event id), or lost. The users' per-region counters must have grown by
   exactly the number stored: anything more is a duplicate.

The chaos state of both regions is restored afterwards.

With ``fault="blackout"`` the region is not failed politely from Slack but blacked out through the
local control API (``POST {control}/regions/<region>/blackout``, then ``/restore``): a real
outage, whose APIs refuse connections, whose functions and services stop, and whose replication
queues up. The blacked-out region is the primary, us-east-1, by default: the hardest case (its
user pool goes dark too, and it owns the global pieces). The client must be served by it when it
goes dark, so the user sits near it: every request to another region waits ``far_ms`` first (the
network's distance), and the router, unchanged, prefers the primary while it answers. It is blacked
out at the first click the primary served from a third of the way in (were the client on another
region a sixth of the clicks later, that region is blacked out instead: ``blackout["region"]`` and
``blackout["primary"]`` say which), and restored two thirds in. Clicks the region accepted just
before it went dark may be stored there and replicate only once it is back, so the ledger counts
after the restore's drain, and checks that every region's copy of the counters adds up to the
same total. Besides the ledger it measures the time to shift, the
restored region's health and drain, and the largest replication lag (the replicator's
AWS/DynamoDB ReplicationLatency, read from CloudWatch as an operator would).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt

from localcloud.graph import aws_client
from localcloud.iam.principals import admin_of

CLIENT = Path(__file__).with_name("ledger_client.mjs")
CHAOS_PREFIX = "/active-active/chaos"
OK = "ok"
FAILED = "failed"  # the router's state of a region it saw fail
CHAOS, BLACKOUT = "chaos", "blackout"  # the faults: /chaos fail from Slack, or a real outage
PRIMARY = "us-east-1"


@dataclass(frozen=True)
class LedgerSettings:
    clicks: int = 1000
    writer_failure_rate: float = 0.2
    interval_ms: int = 40  # at most 25 clicks a second: a fast user, well inside the API's throttling
    fail_at: float = 1 / 3
    recover_at: float = 2 / 3
    settle_timeout: float = 120.0
    fault: str = CHAOS
    blackout_region: str = PRIMARY  # blacked out when it serves the clicks (see the module's text)
    restore_within: float = 60.0  # seconds the restored region may take to be healthy and drained
    far_ms: int = 40  # blackout: the network's delay to every region but blackout_region


@dataclass
class Ledger:
    settings: LedgerSettings
    accepted: int = 0
    rejected: int = 0  # clicks the user saw fail: must be 0
    stored_once: int = 0
    dead_lettered_and_handled: int = 0
    dead_lettered_not_alerted: int = 0
    lost: int = 0
    duplicated: int = 0  # counter increments beyond one per stored click
    lost_increments: int = 0  # stored clicks the counters do not show
    stored_but_reported_failed: int = 0
    counter_delta: int = 0
    failover: dict[str, Any] = field(default_factory=dict)
    blackout: dict[str, Any] = field(default_factory=dict)  # the outage's figures (fault "blackout")
    latency_ms: dict[str, float] = field(default_factory=dict)
    served_by: dict[str, int] = field(default_factory=dict)
    settle_seconds: float = 0.0
    duration_seconds: float = 0.0
    lost_ids: list[str] = field(default_factory=list)
    failed_clicks: list[dict[str, Any]] = field(default_factory=list)  # what the user saw, with attempts
    slowest_clicks: list[dict[str, Any]] = field(default_factory=list)

    def holds(self) -> bool:
        return (
            self.accepted > 0
            and self.lost == self.duplicated == self.lost_increments == self.rejected == 0
            and self.stored_but_reported_failed == 0
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def recovered(self) -> list[str]:
        """What a blackout run's restored region missed, in words (empty: healthy within
        ``restore_within`` seconds, its backlog drained, and its counts include every click)."""
        figures, limit = self.blackout, self.settings.restore_within
        if not figures:
            return ["no region was blacked out"]
        missed = []
        healthy, drained = figures.get("secondsToHealthy"), figures.get("drainSeconds")
        if healthy is None or healthy > limit:
            missed.append(f"{figures['region']} not healthy within {limit:g} s of the restore")
        if drained is None or drained > limit:
            missed.append(f"{figures['region']}'s replication backlog not drained within {limit:g} s")
        if not figures.get("countsConverged"):
            missed.append(f"the regions' counts differ after the restore: {figures.get('countsByRegion')}")
        return missed


class LocalCloudClient:
    """The parts of a running local cloud (its state.json) the ledger talks to."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.regions = list(state["regions"])

    def aws(self, service: str, region: str) -> Any:
        return aws_client(service, region, self.state["moto"], admin_of(self.state))

    def post(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", url, body)

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """The status and JSON answer of one request to the local cloud."""
        request = urllib.request.Request(  # noqa: S310 - the local cloud on 127.0.0.1
            url,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def slack(self, region: str, text: str) -> None:
        """``/chaos <text>`` to a region's Slack API, signed by the Slack stand-in's console."""
        status, reply = self.post(f"{self.state['slack']['console']}/send", {"region": region, "text": text})
        if status != 200:
            raise RuntimeError(f"/chaos {text} in {region} failed with {status}: {reply}")

    def new_user(self) -> dict[str, str]:
        """A user of its own (created in the primary's pool, as an administrator would): no other
        run's clicks, and none still on their way through the bus, can reach its counters."""
        status, config = self.request("GET", f"{self.state['regions'][self.regions[0]]['api']}/config")
        if status != 200:
            raise RuntimeError(f"GET /config failed with {status}: {config}")
        pool = config["cognito"]
        cognito = self.aws("cognito-idp", pool["region"])
        user = {"username": f"user-{secrets.token_hex(6)}", "password": f"Pw-{secrets.token_urlsafe(12)}-9a"}
        cognito.admin_create_user(
            UserPoolId=pool["userPoolId"], Username=user["username"], MessageAction="SUPPRESS"
        )
        cognito.admin_set_user_password(
            UserPoolId=pool["userPoolId"],
            Username=user["username"],
            Password=user["password"],
            Permanent=True,
        )
        return user

    def token(self, user: dict[str, str] | None = None) -> str:
        """An ID token of `user` (the demo user by default)."""
        user = user or self.state["demoUser"]
        region = self.regions[0]
        status, reply = self.post(
            f"{self.state['regions'][region]['api']}/login",
            {"username": user["username"], "password": user["password"]},
        )
        if status != 200:
            raise RuntimeError(f"login failed with {status}: {reply}")
        return str(reply["idToken"])

    def chaos(self, region: str) -> str:
        ssm = self.aws("ssm", region)
        return str(ssm.get_parameter(Name=f"{CHAOS_PREFIX}/{region}")["Parameter"]["Value"])

    def set_chaos(self, region: str, value: str) -> None:
        ssm = self.aws("ssm", region)
        ssm.put_parameter(Name=f"{CHAOS_PREFIX}/{region}", Value=value, Type="String", Overwrite=True)

    @functools.cache  # noqa: B019 - one client per run, and the app's table never changes name
    def table(self, region: str) -> str:
        names = list(self.aws("dynamodb", region).list_tables()["TableNames"])
        if len(names) != 1:
            raise RuntimeError(f"expected the app's one table in {region}, found {names}")
        return names[0]

    def items(self, region: str, prefix: str) -> list[dict[str, Any]]:
        """Every item whose partition key starts with ``prefix`` (a scan: fine at this size)."""
        pages = (
            self.aws("dynamodb", region)
            .get_paginator("scan")
            .paginate(
                TableName=self.table(region),
                FilterExpression="begins_with(pk, :prefix)",
                ExpressionAttributeValues={":prefix": {"S": prefix}},
                ConsistentRead=True,
            )
        )
        return [item for page in pages for item in page["Items"]]

    def own_counter(self, region: str, user_id: str) -> int:
        """This region's counter item, read where it is written (the authoritative copy)."""
        item = (
            self.aws("dynamodb", region)
            .get_item(
                TableName=self.table(region),
                Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": f"VIEWS#{region}"}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return int(item["views"]["N"]) if item else 0

    def views(self, user_id: str) -> int:
        return sum(self.own_counter(region, user_id) for region in self.regions)

    def views_seen_in(self, region: str, user_id: str) -> int:
        """The user's views as `region` sums them: every region's counter item, as replicated there."""
        items = self.aws("dynamodb", region).query(
            TableName=self.table(region),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :views)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id}"}, ":views": {"S": "VIEWS#"}},
            ConsistentRead=True,
        )["Items"]
        return sum(int(item["views"]["N"]) for item in items)

    def redelivery_seconds(self) -> float:
        """The longest a received SQS message stays invisible before it is delivered again: the
        largest VisibilityTimeout of every region's queues (the dead-letter queues' among them)."""
        longest = 30.0  # SQS's default
        for region in self.regions:
            sqs = self.aws("sqs", region)
            for url in sqs.list_queues().get("QueueUrls", []):
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
                longest = max(longest, float(attributes["Attributes"]["VisibilityTimeout"]))
        return longest

    def control(self, method: str, path: str) -> tuple[int, Any]:
        """A request to the local control API (local only)."""
        return self.request(method, f"{self.state['control']}{path}")

    def health(self, region: str) -> int:
        """The status of the region's ``GET /health``, 0 when nothing answers."""
        try:
            return self.request("GET", f"{self.state['regions'][region]['api']}/health")[0]
        except (OSError, ValueError):
            return 0

    def replication_latency(self, start: datetime, end: datetime) -> dict[str, dict[str, float]]:
        """AWS/DynamoDB ReplicationLatency per "source>receiving" pair between `start` and `end`:
        its largest and average datapoint (ms) and how many, from each source region's CloudWatch."""
        figures: dict[str, dict[str, float]] = {}
        for source in self.regions:
            cloudwatch = self.aws("cloudwatch", source)
            for receiving in self.regions:
                if receiving == source:
                    continue
                points = cloudwatch.get_metric_statistics(
                    Namespace="AWS/DynamoDB",
                    MetricName="ReplicationLatency",
                    Dimensions=[
                        {"Name": "TableName", "Value": self.table(source)},
                        {"Name": "ReceivingRegion", "Value": receiving},
                    ],
                    StartTime=start,
                    EndTime=end,
                    Period=60,
                    Statistics=["Maximum", "Average", "SampleCount"],
                )["Datapoints"]
                count = sum(point["SampleCount"] for point in points)
                if count:
                    figures[f"{source}>{receiving}"] = {
                        "maxMs": round(max(point["Maximum"] for point in points), 1),
                        "averageMs": round(
                            sum(point["Average"] * point["SampleCount"] for point in points) / count, 1
                        ),
                        "samples": int(count),
                    }
        return figures


class Fault(Protocol):
    """How the serving region is made to fail mid-run, and brought back."""

    def __init__(self, cloud: LocalCloudClient, settings: LedgerSettings) -> None: ...

    def target(self, click: dict[str, Any], waited: int) -> str | None:
        """The region to fail after `click`, `waited` clicks past ``fail_at``; None: not yet."""

    def client(self) -> dict[str, Any]:
        """What the ledger's client is told besides the clicks (``near``, ``farMs``)."""

    def begin(self, region: str) -> None: ...

    def end(self, region: str) -> None: ...

    def figures(self) -> dict[str, Any]: ...

    def clean_up(self) -> None: ...


class SlackChaos:
    """The polite fault: ``/chaos fail`` and ``/chaos recover`` from Slack, on the serving region."""

    def __init__(self, cloud: LocalCloudClient, settings: LedgerSettings) -> None:
        self.cloud = cloud

    def client(self) -> dict[str, Any]:
        return {}

    def target(self, click: dict[str, Any], waited: int) -> str | None:
        return str(click["region"])

    def begin(self, region: str) -> None:
        self.cloud.slack(region, f"fail {region}")

    def end(self, region: str) -> None:
        self.cloud.slack(region, f"recover {region}")

    def figures(self) -> dict[str, Any]:
        return {}

    def clean_up(self) -> None:
        """Nothing: the chaos state is restored by ``run``."""


class Blackout:
    """A real outage from the local control API, of ``settings.blackout_region`` once it serves."""

    def __init__(self, cloud: LocalCloudClient, settings: LedgerSettings) -> None:
        self.cloud = cloud
        self.settings = settings
        self.grace = max(1, settings.clicks // 6)  # clicks to wait for the preferred region to serve
        self.region: str | None = None
        self.out = False
        self.times: dict[str, Any] = {}

    def client(self) -> dict[str, Any]:
        # The user sits near the region to black out, so the client serves from it until it
        # goes dark (the regions answer within a few ms of each other here, and the router
        # keeps its region unless another is faster by SWITCH_MARGIN_MS, 25 ms).
        return {"near": self.settings.blackout_region, "farMs": self.settings.far_ms}

    def target(self, click: dict[str, Any], waited: int) -> str | None:
        if click["region"] == self.settings.blackout_region or waited >= self.grace:
            return str(click["region"])
        return None

    def begin(self, region: str) -> None:
        commanded = time.time()
        status, reply = self.cloud.control("POST", f"/regions/{region}/blackout")
        if status != 200:
            raise RuntimeError(f"blackout of {region} failed with {status}: {reply}")
        self.region, self.out = region, True
        self.times.update(commanded=commanded, confirmed=time.time())

    def end(self, region: str) -> None:
        commanded = time.time()
        status, reply = self.cloud.control("POST", f"/regions/{region}/restore")
        if status != 200:
            raise RuntimeError(f"restore of {region} failed with {status}: {reply}")
        self.out = False
        self.times.update(restored=commanded, backlog=reply["lastOutage"]["backlog"])
        # Healthy again: its own /health answers 200 (the client sees it at its next probe).
        deadline = commanded + self.settings.restore_within
        while self.cloud.health(region) != 200 and time.time() < deadline:
            time.sleep(0.1)
        if self.cloud.health(region) == 200:
            self.times["healthy"] = time.time()

    def drained(self) -> dict[str, Any]:
        """The control API's account of the drain, once the backlog is written (or the deadline)."""
        assert self.region is not None
        deadline = self.times["restored"] + self.settings.restore_within
        while True:
            status, state = self.cloud.control("GET", f"/regions/{self.region}")
            outage = (state or {}).get("lastOutage") or {}
            if (status == 200 and outage.get("drainedAt")) or time.time() > deadline:
                return dict(outage)
            time.sleep(0.2)

    def figures(self) -> dict[str, Any]:
        if self.region is None:
            return {}
        times = self.times
        outage = self.drained() if "restored" in times else {}
        return {
            "region": self.region,
            "primary": self.region == PRIMARY,
            "preferred": self.settings.blackout_region,
            "commandSeconds": _seconds((times["confirmed"] - times["commanded"]) * 1000),
            "outageSeconds": _seconds((times["restored"] - times["commanded"]) * 1000)
            if "restored" in times
            else None,
            "secondsToHealthy": _seconds((times["healthy"] - times["restored"]) * 1000)
            if "healthy" in times
            else None,
            "backlogAtRestore": times.get("backlog"),
            "drainSeconds": outage.get("drainSeconds"),
        }

    def clean_up(self) -> None:
        """A run that stopped during the outage still ends it."""
        if self.out and self.region is not None:
            self.cloud.control("POST", f"/regions/{self.region}/restore")
            self.out = False


FAULTS: dict[str, type[Fault]] = {CHAOS: SlackChaos, BLACKOUT: Blackout}


def run(state: dict[str, Any], settings: LedgerSettings, log: Callable[[str], None] = print) -> Ledger:
    cloud = LocalCloudClient(state)
    saved = {region: cloud.chaos(region) for region in cloud.regions}
    fault = FAULTS[settings.fault](cloud, settings)
    try:
        return _run(cloud, settings, fault, log)
    finally:
        fault.clean_up()
        for region, value in saved.items():
            cloud.set_chaos(region, value)


def _run(
    cloud: LocalCloudClient, settings: LedgerSettings, fault: Fault, log: Callable[[str], None]
) -> Ledger:
    for region in cloud.regions:
        cloud.slack(region, f"recover {region}")
        cloud.slack(region, f"errors 0 {region}")
        state = json.loads(cloud.chaos(region))
        cloud.set_chaos(region, json.dumps({**state, "writerFailureRate": settings.writer_failure_rate}))
    time.sleep(4)  # functions cache the chaos state for at most 3 s

    token = cloud.token(cloud.new_user())
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    views_before = cloud.views(user_id)
    started = time.time()
    log(
        f"ledger: {settings.clicks} clicks, writer failing {settings.writer_failure_rate:.0%} of deliveries, "
        f"fault: {settings.fault}"
    )
    clicks, routers, commands = _click(cloud, token, settings, fault, log)
    ledger = Ledger(settings, duration_seconds=round(time.time() - started, 1))
    ledger.blackout = fault.figures()

    accepted = {c["clickId"]: c for c in clicks if c["outcome"] == OK}
    failed = {c["clickId"] for c in clicks if c["outcome"] != OK}
    ledger.accepted, ledger.rejected = len(accepted), len(failed)
    for click in accepted.values():
        ledger.served_by[click["region"]] = ledger.served_by.get(click["region"], 0) + 1
    elapsed = sorted(c["elapsedMs"] for c in clicks)
    ledger.failed_clicks = [c for c in clicks if c["outcome"] != OK][:20]
    ledger.slowest_clicks = sorted(clicks, key=lambda c: -c["elapsedMs"])[:5]
    ledger.latency_ms = _percentiles(elapsed)
    ledger.failover = _failover(clicks, routers, commands)

    settle_started = time.monotonic()
    since = (datetime.fromtimestamp(started, UTC) - timedelta(seconds=5)).isoformat()
    stored, dead = _settle(cloud, user_id, since, list(accepted), settings)
    ledger.settle_seconds = round(time.monotonic() - settle_started, 1)

    ledger.counter_delta = cloud.views(user_id) - views_before
    stored_accepted = [key for key in accepted if key in stored]
    ledger.stored_once = len(stored_accepted)
    ledger.dead_lettered_and_handled = sum(1 for key in accepted if dead.get(key) and key not in stored)
    ledger.dead_lettered_not_alerted = sum(1 for key in accepted if key in dead and not dead[key])
    ledger.lost_ids = sorted(key for key in accepted if key not in stored and key not in dead)
    ledger.lost = len(ledger.lost_ids) + ledger.dead_lettered_not_alerted
    ledger.stored_but_reported_failed = sum(1 for key in failed if key in stored)
    # Every store adds 1 to a counter; a click stored in two regions adds 2 but has one guard.
    ledger.duplicated = max(0, ledger.counter_delta - len(stored))
    ledger.lost_increments = max(0, len(stored) - ledger.counter_delta)
    if ledger.blackout:
        ledger.blackout.update(_converged(cloud, user_id, views_before + ledger.counter_delta, settings))
        ledger.blackout["replicationLatency"] = _latency(cloud, started)
    log(
        f"ledger: accepted {ledger.accepted}, stored once {ledger.stored_once}, dead-lettered and handled "
        f"{ledger.dead_lettered_and_handled}, lost {ledger.lost}, duplicated {ledger.duplicated}, "
        f"user-visible errors {ledger.rejected}"
    )
    return ledger


def _settle(
    cloud: LocalCloudClient, user_id: str, since: str, accepted: list[str], settings: LedgerSettings
) -> tuple[set[str], dict[str, bool]]:
    """The outcomes (``_outcomes``) once every accepted click is stored or dead-lettered and
    handled, or the settle timeout passed."""
    deadline, redelivery = time.monotonic() + settings.settle_timeout, None
    while True:
        stored, dead = _outcomes(cloud, user_id, since)
        pending = [key for key in accepted if key not in stored and key not in dead]
        unhandled = [key for key in accepted if key not in stored and key in dead and not dead[key]]
        if unhandled and redelivery is None:
            # A dead letter whose handling failed (its handler cut off by a blackout, say) is
            # handled again once the queue's visibility timeout has passed: wait for that too.
            redelivery = cloud.redelivery_seconds()
            deadline = max(deadline, time.monotonic() + redelivery + 30)
        if not (pending or unhandled) or time.monotonic() > deadline:
            break
        time.sleep(1)
    time.sleep(2)  # let late duplicates, if any, land before counting
    return _outcomes(cloud, user_id, since)


def _converged(cloud: LocalCloudClient, user_id: str, total: int, settings: LedgerSettings) -> dict[str, Any]:
    """Whether every region sums the user's counters to `total` (replication caught up), polled
    until it does or ``restore_within`` seconds pass."""
    deadline = time.monotonic() + settings.restore_within
    while True:
        seen = {region: cloud.views_seen_in(region, user_id) for region in cloud.regions}
        converged = all(value == total for value in seen.values())
        if converged or time.monotonic() > deadline:
            return {"countsConverged": converged, "countsByRegion": seen, "countsTotal": total}
        time.sleep(0.5)


def _latency(cloud: LocalCloudClient, started: float) -> dict[str, Any]:
    """The run's ReplicationLatency, once CloudWatch has every datapoint (the local metrics reach
    it in batches about a second apart: read until two reads agree)."""
    start = datetime.fromtimestamp(started, UTC) - timedelta(seconds=5)
    previous: dict[str, dict[str, float]] | None = None
    for _ in range(20):
        figures = cloud.replication_latency(start, datetime.now(UTC) + timedelta(minutes=1))
        if figures == previous:
            break
        previous = figures
        time.sleep(1.5)
    largest = max(figures.items(), key=lambda pair: pair[1]["maxMs"], default=None)
    return {
        "pairs": figures,
        "maxMs": largest[1]["maxMs"] if largest else None,
        "maxPair": largest[0] if largest else None,
    }


def _click(
    cloud: LocalCloudClient, token: str, settings: LedgerSettings, fault: Fault, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    config = {
        "regions": [{"region": r, "api": cloud.state["regions"][r]["api"]} for r in cloud.regions],
        "token": token,
        "clicks": settings.clicks,
        "intervalMs": settings.interval_ms,
        **fault.client(),
    }
    # Bounded: a quarter of a second a click beyond twice the pace (a click here takes about
    # 80 ms, one through a distant region 40 ms more), the restored region's wait for its health,
    # and a minute; then the client is stopped.
    budget = settings.clicks * (settings.interval_ms / 1000 * 2 + 0.25) + settings.restore_within + 60
    deadline = time.monotonic() + budget
    process = subprocess.Popen(
        ["node", str(CLIENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(config))
    process.stdin.close()
    clicks: list[dict[str, Any]] = []
    routers: list[dict[str, Any]] = []
    commands: dict[str, Any] = {}
    fail_index = int(settings.clicks * settings.fail_at)
    recover_index = int(settings.clicks * settings.recover_at)
    try:
        for line in process.stdout:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the ledger's client did not finish {settings.clicks} clicks in time")
            record = json.loads(line)
            if record["type"] == "router":
                routers.append(record)
                if commands and record["states"].get(commands["region"]) == FAILED:
                    commands.setdefault("seenFailedAt", record["at"])
            elif record["type"] == "click":
                clicks.append(record)
                region = (
                    None
                    if commands or len(clicks) < fail_index
                    else fault.target(record, len(clicks) - fail_index)
                )
                if region is not None:
                    commands.update(region=region, failedAt=time.time() * 1000, failedAfter=len(clicks))
                    fault.begin(region)
                    log(f"ledger: {settings.fault} of {region} after {len(clicks)} clicks")
                elif _moved_off(record, commands):
                    commands.setdefault("movedOffAt", record["startedAt"])
                # Recovered at recover_at, or later once the client has moved off the failed
                # region: the window is counted in clicks, and fast clicks can outrun the
                # functions' chaos cache (up to 3 s), so the failure may not show before it.
                moved, recovered = "movedOffAt" in commands, "recoveredAt" in commands
                if len(clicks) >= recover_index and moved and not recovered:
                    commands.update(recoveredAt=time.time() * 1000, recoveredAfter=len(clicks))
                    fault.end(commands["region"])
                    log(f"ledger: recovered {commands['region']} after {len(clicks)} clicks")
    except BaseException:
        process.kill()
        raise
    finally:
        process.wait(timeout=30)
    if process.returncode != 0 or len(clicks) != settings.clicks:
        raise RuntimeError(f"the ledger's client exited with {process.returncode} after {len(clicks)} clicks")
    return clicks, routers, commands


def _moved_off(click: dict[str, Any], commands: dict[str, Any]) -> bool:
    """Whether this click went first to another region after the router saw the failed one fail."""
    seen = commands.get("seenFailedAt")
    return (
        seen is not None
        and click["startedAt"] >= seen
        and click["attempts"][0]["region"] != commands["region"]
    )


def _outcomes(cloud: LocalCloudClient, user_id: str, since: str) -> tuple[set[str], dict[str, bool]]:
    """Event ids stored (guard items) and dead-lettered (id -> alerted), in any region."""
    stored: set[str] = set()
    dead: dict[str, bool] = {}
    for region in cloud.regions:
        for item in cloud.items(region, "EVENT#"):
            if item.get("userId", {}).get("S") == user_id and item.get("at", {}).get("S", "") >= since:
                stored.add(item["pk"]["S"].removeprefix("EVENT#"))
        for item in cloud.items(region, "DEAD#"):
            event_id = item.get("eventId", {}).get("S")
            if event_id:
                dead[event_id] = dead.get(event_id, False) or "alertedAt" in item
    return stored, dead


def _failover(
    clicks: list[dict[str, Any]], routers: list[dict[str, Any]], commands: dict[str, Any]
) -> dict[str, Any]:
    """When the client noticed the failed region, moved off it, and saw it healthy again."""
    if not commands:
        return {}
    region, failed_at = commands["region"], commands["failedAt"]
    recovered_at = commands.get("recoveredAt", float("inf"))
    during = [c for c in clicks if failed_at <= c["startedAt"] < recovered_at]
    failed_over = [c for c in during if len(c["attempts"]) > 1]
    first_503 = next((c for c in during if c["attempts"][0]["outcome"] == "unavailable"), None)
    last_on_failed = max(
        (c["startedAt"] for c in during if c["attempts"][0]["region"] == region), default=failed_at
    )
    moved = next((c for c in during if c["startedAt"] > last_on_failed), None)
    healthy_again = next(
        (r for r in routers if r["at"] >= recovered_at and r["states"].get(region) == OK), None
    )
    # The first click sent to the region that did not answer OK there (a 503, or nothing at all),
    # the one in flight when the command came included.
    met = next(
        (
            c
            for c in clicks
            if c["startedAt"] + c["elapsedMs"] >= failed_at
            and c["startedAt"] < recovered_at
            and c["attempts"][0]["region"] == region
            and c["attempts"][0]["outcome"] != OK
        ),
        None,
    )
    return {
        "region": region,
        "failedAfterClicks": commands.get("failedAfter"),
        "recoveredAfterClicks": commands.get("recoveredAfter"),
        "clicksDuringFailure": len(during),
        "userVisibleErrorsDuringFailure": sum(1 for c in during if c["outcome"] != OK),
        "clicksFailedOver": len(failed_over),
        "secondsToFirst503": _seconds(first_503["startedAt"] - failed_at) if first_503 else None,
        "secondsToMoveOff": _seconds(moved["startedAt"] - failed_at) if moved else None,
        "failedOverClickMs": _percentiles(sorted(c["elapsedMs"] for c in failed_over)),
        "secondsToHealthyAgain": _seconds(healthy_again["at"] - recovered_at) if healthy_again else None,
        "firstMet": {
            # Negative: sent before the command, its answer still on its way.
            "secondsAfterCommand": round((met["startedAt"] - failed_at) / 1000, 2) + 0.0,  # no -0.0
            "outcome": met["attempts"][0]["outcome"],
            "retriedIn": met["attempts"][-1]["region"] if len(met["attempts"]) > 1 else None,
            "succeeded": met["outcome"] == OK,
            "msToSuccess": met["elapsedMs"] if met["outcome"] == OK else None,
        }
        if met
        else None,
    }


def _seconds(milliseconds: float) -> float:
    return round(max(0.0, milliseconds) / 1000, 2)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": float(statistics.median(ordered)),
        "p99": float(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]),
        "max": float(ordered[-1]),
    }


def main() -> None:
    """``python -m bench.ledger``: the ledger alone, against a running local cloud (its state.json),
    printed as JSON; exits 1 when it does not hold."""
    parser = argparse.ArgumentParser(description=main.__doc__.splitlines()[0] if main.__doc__ else None)
    parser.add_argument(
        "--state", type=Path, default=Path(os.environ.get("LOCALCLOUD_STATE_DIR", ".localcloud"))
    )
    parser.add_argument("--clicks", type=int, default=LedgerSettings.clicks)
    parser.add_argument("--writer-failure-rate", type=float, default=LedgerSettings.writer_failure_rate)
    parser.add_argument("--fault", choices=sorted(FAULTS), default=CHAOS)
    parser.add_argument("--region", default=PRIMARY, help="the region to black out when it serves")
    options = parser.parse_args()
    path = options.state / "state.json" if options.state.is_dir() else options.state
    settings = LedgerSettings(
        clicks=options.clicks,
        writer_failure_rate=options.writer_failure_rate,
        fault=options.fault,
        blackout_region=options.region,
    )
    outcome = run(json.loads(path.read_text()), settings, log=lambda line: print(line, file=sys.stderr))
    missed = [] if outcome.holds() else ["the ledger does not hold"]
    if options.fault == BLACKOUT:
        missed += outcome.recovered()
    print(json.dumps({**outcome.to_json(), "holds": outcome.holds(), "missed": missed}, indent=2))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
