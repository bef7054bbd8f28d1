"""The front door: one URL for the app, routed like a Route 53 latency record with health checks.

Every couple of seconds it calls each region's ``/health``; requests go to the healthy region
with the lowest measured latency. When none is healthy it answers 503.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
# The front door's own server sends these; the region's copies would make a second of each.
OWN_HEADERS = {"server", "date"}


@dataclass
class RegionHealth:
    region: str
    url: str
    healthy: bool = False
    latency_ms: float = float("inf")
    checked: float = 0.0


@dataclass
class FrontDoor:
    regions: dict[str, str]  # region -> user API base URL
    interval: float = 2.0
    health: dict[str, RegionHealth] = field(default_factory=dict)
    stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.health = {region: RegionHealth(region, url) for region, url in self.regions.items()}

    def start(self) -> None:
        self.check_all()
        threading.Thread(target=self._loop, name="frontdoor-health", daemon=True).start()

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            self.check_all()

    def check_all(self) -> None:
        threads = [threading.Thread(target=self._check, args=(state,)) for state in self.health.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _check(self, state: RegionHealth) -> None:
        started = time.perf_counter()
        try:
            status, _, _ = _forward(state.url, "GET", "/health", {}, b"", timeout=2)
            state.healthy = status == 200
        except OSError:
            state.healthy = False
        state.latency_ms = (time.perf_counter() - started) * 1000
        state.checked = time.time()

    def choose(self) -> RegionHealth | None:
        healthy = [state for state in self.health.values() if state.healthy]
        return min(healthy, key=lambda state: state.latency_ms) if healthy else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        target = self.choose()
        if target is None:
            response = Response(
                '{"message":"no healthy region"}', status=503, content_type="application/json"
            )
            return response(environ, start_response)
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        path = request.full_path if request.query_string else request.path
        try:
            status, response_headers, body = _forward(
                target.url, request.method, path, headers, request.get_data(), timeout=35
            )
        except OSError:
            target.healthy = False
            response = Response(
                '{"message":"region unreachable"}', status=502, content_type="application/json"
            )
            return response(environ, start_response)
        # In the constructor, so werkzeug adds no default Content-Type of its own (FACTS.md).
        proxied = [(n, v) for n, v in response_headers if n.lower() not in HOP_BY_HOP | OWN_HEADERS]
        response = Response(body, status=status, headers=proxied)
        response.headers["x-served-by-region"] = target.region
        return response(environ, start_response)


def _forward(
    base: str, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float
) -> tuple[int, list[tuple[str, str]], bytes]:
    parsed = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(
        parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=timeout
    )
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()
