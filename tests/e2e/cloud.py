"""Talking to a running local cloud: HTTP helpers and the Cloud handle the tests use."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waiting import wait_for

from bench.ledger import LocalCloudClient
from localcloud.graph import aws_client
from localcloud.iam.principals import admin_of

ROOT = Path(__file__).resolve().parents[2]
# Debian's Chromium by default; CHROMIUM_EXECUTABLE points elsewhere (e.g. GitHub's Chrome).
CHROMIUM = Path(os.environ.get("CHROMIUM_EXECUTABLE", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PORT_BASE = int(os.environ.get("E2E_LOCALCLOUD_PORT", "5800"))
READY_TIMEOUT = 180
REGIONS = ("us-east-1", "us-west-2")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> Reply:
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Reply(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


@dataclass
class Cloud:
    state: dict[str, Any]
    process: subprocess.Popen[str]
    state_dir: Path

    def api(self, region: str) -> str:
        return self.state["regions"][region]["api"]

    def aws(self, service: str, region: str) -> Any:
        """A boto3 client for the local cloud's moto, as its admin (moto enforces IAM)."""
        return aws_client(service, region, self.state["moto"], admin_of(self.state))

    def chaos_state(self, region: str) -> dict[str, Any]:
        """The region's chaos state as stored in its SSM parameter."""
        parameter = self.aws("ssm", region).get_parameter(Name=f"/active-active/chaos/{region}")
        return dict(json.loads(parameter["Parameter"]["Value"]))

    def slack(self, region: str, text: str) -> Reply:
        """A correctly signed `/chaos` command through the Slack stand-in's console."""
        console = self.state["slack"]["console"]
        return http("POST", f"{console}/send", {"region": region, "text": text})

    def token(self, region: str = "us-east-1", user: dict[str, str] | None = None) -> str:
        """An ID token of `user` (the demo user by default), from `/login` in `region`."""
        user = user or self.state["demoUser"]
        reply = http(
            "POST", f"{self.api(region)}/login", {"username": user["username"], "password": user["password"]}
        )
        assert reply.status == 200, reply.body
        return reply.json()["idToken"]

    def new_user(self) -> dict[str, str]:
        """A user of its own for a test that counts views: no other test's clicks, and none still
        on their way through the bus, can reach its counters."""
        return LocalCloudClient(self.state).new_user()

    def table_name(self) -> str:
        graph = json.loads((self.state_dir / REGIONS[1] / "graph.json").read_text())
        [replica] = [r for r in graph["resources"] if r["type"] == "aws:dynamodb/tableReplica:TableReplica"]
        return str(replica["inputs"]["globalTableArn"].rsplit("/", 1)[-1])

    def views(self, region: str, token: str) -> int:
        """The token's user's total views as `region`'s table holds them (every region's counter)."""
        items = self.aws("dynamodb", region).query(
            TableName=self.table_name(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :views)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{user_id(token)}"}, ":views": {"S": "VIEWS#"}},
            ConsistentRead=True,
        )["Items"]
        return sum(int(item["views"]["N"]) for item in items)

    def wait_for_views(self, token: str, expected: int, timeout: float = 20) -> None:
        """Until every region's table holds `expected` views of the token's user: the writer stores
        each view asynchronously, and the global table replicates it."""
        regions = list(self.state["regions"])
        found = wait_for(
            lambda: all(self.views(r, token) == expected for r in regions) or None, timeout=timeout
        )
        assert found, f"views never reached {expected}: " + str({r: self.views(r, token) for r in regions})

    def logged(self, region: str, source: str, *texts: str) -> bool:
        """Whether the `source` function (its folder under functions/) logged a line containing
        every one of `texts` in `region`'s CloudWatch Logs."""
        logs = self.aws("logs", region)
        prefix = f"/aws/lambda/active-active-{source}-"
        groups = logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
        return any(
            all(text in event["message"] for text in texts)
            for group in groups
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group["logGroupName"])
            for event in page["events"]
        )

    def inbox(self) -> list[dict[str, Any]]:
        return http("GET", self.state["slack"]["inbox"], headers={"accept": "application/json"}).json()


def user_id(token: str) -> str:
    """The `sub` claim of a token (its signature is the gateway's business, not the test's)."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])
