"""The front door: one URL for the app, routed like a Route 53 latency record with health checks.

Every couple of seconds it calls each region's ``/health``; requests go to the healthy region
with the lowest measured latency. When none is healthy it answers 503.

It talks to each region over a few kept-alive connections (``Upstream``), as CloudFront keeps
its origin connections, instead of a TCP connection per request.
"""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from localcloud import httpserver

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
# A request that may be sent again when a kept-alive connection dropped before any answer came
# (RFC 9110 section 9.2.2); a POST may have reached the region, so it never is.
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}
# Well inside the servers' idle timeout, so a kept connection is not one its server is closing.
KEEP_IDLE_SECONDS = httpserver.IDLE_SECONDS / 2
KEEP_PER_REGION = 8


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
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    stopped: threading.Event = field(default_factory=threading.Event)
    prober: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.health = {region: RegionHealth(region, url) for region, url in self.regions.items()}
        self.upstreams = {region: Upstream(url) for region, url in self.regions.items()}

    def start(self) -> None:
        self.check_all()
        self.prober = threading.Thread(target=self._loop, name="frontdoor-health", daemon=True)
        self.prober.start()

    def stop(self) -> None:
        """End the health checks; the prober closes every kept connection as it ends."""
        self.stopped.set()
        if self.prober is not None:
            self.prober.join()
        else:
            self._close()

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            self.check_all()
        self._close()

    def _close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.close()

    def check_all(self) -> None:
        threads = [threading.Thread(target=self._check, args=(state,)) for state in self.health.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _check(self, state: RegionHealth) -> None:
        started = time.perf_counter()
        try:
            status, _, _ = self.upstreams[state.region].request("GET", "/health", {}, b"", timeout=2)
            state.healthy = status == 200
        except (OSError, http.client.HTTPException):
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
            status, response_headers, body = self.upstreams[target.region].request(
                request.method, path, headers, request.get_data(), timeout=35
            )
        except (OSError, http.client.HTTPException):
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


class Upstream:
    """Kept-alive connections to one region: at most ``keep`` idle, each idle at most ``idle`` s.

    Thread-safe. A request takes the most recently used idle connection, or opens one; as many
    are open at once as the front door's server has request threads. A kept connection the region
    closed (it stopped, restarted or timed the connection out) is seen before the request goes
    out and replaced. When one drops as the request is sent (the region closed it at that
    moment), the request goes once more on a new connection: always if the request could not be
    sent whole, else only for an idempotent method and only if no byte of an answer came.
    """

    def __init__(self, base: str, keep: int = KEEP_PER_REGION, idle: float = KEEP_IDLE_SECONDS) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.keep = keep
        self.idle = idle
        self._lock = threading.Lock()
        self._idle: deque[tuple[http.client.HTTPConnection, float]] = deque()
        self._closed = False

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        kept = self._take()
        if kept is not None:
            try:
                return self._exchange(kept, method, path, headers, body, timeout)
            except _Dropped as dropped:
                if dropped.sent and method not in IDEMPOTENT:
                    raise dropped.error from None
        try:
            return self._exchange(self._connect(timeout), method, path, headers, body, timeout)
        except _Dropped as dropped:
            raise dropped.error from None

    def close(self) -> None:
        """Close the idle connections, and each busy one as its request ends."""
        with self._lock:
            self._closed = True
            while self._idle:
                self._idle.pop()[0].close()

    def _take(self) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection, since = self._idle.pop()
            if time.monotonic() - since < self.idle and not _closed_by_peer(connection):
                return connection
            connection.close()

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.keep:
                self._idle.append((connection, time.monotonic()))
                return
        connection.close()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        connection.connect()
        # http.client sends a body over 2,000 bytes apart from the headers; see httpserver.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        timeout: float,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One request and its whole answer; _Dropped when the connection closed before any answer."""
        sent = False
        try:
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            connection.request(method, path, body=body or None, headers=headers)
            sent = True
            response = connection.getresponse()
        except ConnectionError as error:  # reset, broken pipe, closed without a status line
            connection.close()
            raise _Dropped(error, sent) from error
        except BaseException:
            connection.close()
            raise
        try:
            data = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return response.status, response.getheaders(), data


class _Dropped(Exception):
    def __init__(self, error: ConnectionError, sent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent = sent


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle connection is readable only when the peer closed it (or sent what nobody asked for)."""
    if connection.sock is None:
        return True
    with selectors.DefaultSelector() as selector:
        selector.register(connection.sock, selectors.EVENT_READ)
        return bool(selector.select(timeout=0))
