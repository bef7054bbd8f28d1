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
"""

from __future__ import annotations

import functools
import json
import secrets
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from localcloud.graph import aws_client
from localcloud.iam.principals import admin_of

CLIENT = Path(__file__).with_name("ledger_client.mjs")
CHAOS_PREFIX = "/active-active/chaos"
OK = "ok"
FAILED = "failed"  # the router's state of a region it saw fail


@dataclass(frozen=True)
class LedgerSettings:
    clicks: int = 1000
    writer_failure_rate: float = 0.2
    interval_ms: int = 40  # at most 25 clicks a second: a fast user, well inside the API's throttling
    fail_at: float = 1 / 3
    recover_at: float = 2 / 3
    settle_timeout: float = 120.0


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


def run(state: dict[str, Any], settings: LedgerSettings, log: Callable[[str], None] = print) -> Ledger:
    cloud = LocalCloudClient(state)
    saved = {region: cloud.chaos(region) for region in cloud.regions}
    try:
        return _run(cloud, settings, log)
    finally:
        for region, value in saved.items():
            cloud.set_chaos(region, value)


def _run(cloud: LocalCloudClient, settings: LedgerSettings, log: Callable[[str], None]) -> Ledger:
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
    log(f"ledger: {settings.clicks} clicks, writer failing {settings.writer_failure_rate:.0%} of deliveries")
    clicks, routers, commands = _click(cloud, token, settings, log)
    ledger = Ledger(settings, duration_seconds=round(time.time() - started, 1))

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
    while True:
        stored, dead = _outcomes(cloud, user_id, since)
        pending = [key for key in accepted if key not in stored and key not in dead]
        if not pending or time.monotonic() - settle_started > settings.settle_timeout:
            break
        time.sleep(1)
    time.sleep(2)  # let late duplicates, if any, land before counting
    stored, dead = _outcomes(cloud, user_id, since)
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
    log(
        f"ledger: accepted {ledger.accepted}, stored once {ledger.stored_once}, dead-lettered and handled "
        f"{ledger.dead_lettered_and_handled}, lost {ledger.lost}, duplicated {ledger.duplicated}, "
        f"user-visible errors {ledger.rejected}"
    )
    return ledger


def _click(
    cloud: LocalCloudClient, token: str, settings: LedgerSettings, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    config = {
        "regions": [{"region": r, "api": cloud.state["regions"][r]["api"]} for r in cloud.regions],
        "token": token,
        "clicks": settings.clicks,
        "intervalMs": settings.interval_ms,
    }
    # Bounded: at most twice the paced duration plus a minute, then the client is stopped.
    deadline = time.monotonic() + settings.clicks * settings.interval_ms / 1000 * 2 + 60
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
                if len(clicks) == fail_index:
                    region = record["region"]
                    cloud.slack(region, f"fail {region}")
                    commands.update(region=region, failedAt=time.time() * 1000)
                    log(f"ledger: failed {region} after {len(clicks)} clicks")
                elif _moved_off(record, commands):
                    commands.setdefault("movedOffAt", record["startedAt"])
                # Recovered at recover_at, or later once the client has moved off the failed
                # region: the window is counted in clicks, and fast clicks can outrun the
                # functions' chaos cache (up to 3 s), so the failure may not show before it.
                moved, recovered = "movedOffAt" in commands, "recoveredAt" in commands
                if len(clicks) >= recover_index and moved and not recovered:
                    cloud.slack(commands["region"], f"recover {commands['region']}")
                    commands["recoveredAt"] = time.time() * 1000
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
    return {
        "region": region,
        "clicksDuringFailure": len(during),
        "userVisibleErrorsDuringFailure": sum(1 for c in during if c["outcome"] != OK),
        "clicksFailedOver": len(failed_over),
        "secondsToFirst503": _seconds(first_503["startedAt"] - failed_at) if first_503 else None,
        "secondsToMoveOff": _seconds(moved["startedAt"] - failed_at) if moved else None,
        "failedOverClickMs": _percentiles(sorted(c["elapsedMs"] for c in failed_over)),
        "secondsToHealthyAgain": _seconds(healthy_again["at"] - recovered_at) if healthy_again else None,
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
