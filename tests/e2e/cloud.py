"""Talking to a running local cloud: HTTP helpers and the Cloud handle the tests use."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.cloud import aws_client

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
        """A boto3 client for the local cloud's moto (any credentials do)."""
        return aws_client(service, region, self.state["moto"])

    def slack(self, region: str, text: str) -> Reply:
        """A correctly signed `/chaos` command through the Slack stand-in's console."""
        console = self.state["slack"]["console"]
        return http("POST", f"{console}/send", {"region": region, "text": text})

    def token(self, region: str = "us-east-1") -> str:
        user = self.state["demoUser"]
        reply = http(
            "POST", f"{self.api(region)}/login", {"username": user["username"], "password": user["password"]}
        )
        assert reply.status == 200, reply.body
        return reply.json()["idToken"]

    def inbox(self) -> list[dict[str, Any]]:
        return http("GET", self.state["slack"]["inbox"], headers={"accept": "application/json"}).json()
