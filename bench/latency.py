"""Warm latency through the local gateway against a direct call of the same warm function.

For each API function, the probe request (``bench.coldstart.probes``) is built into its event by
the gateway's own event builder once; then, alternately, the event is invoked directly on the
function's warm Lambda worker (as ``aws lambda invoke`` would) and the same request is sent over
HTTP through the gateway, which invokes that same worker. Alternating puts both under the same
machine load; the difference is the gateway: the HTTP exchange, routing, the JWT check,
throttling and building the event. Requests are paced below the route's throttling; the first
few warm the workers and are not counted.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

WARMUP = 5


def http_sender(url: str, method: str, headers: dict[str, str], body: bytes) -> Callable[[], None]:
    """One request over a new connection; raises on any answer but success."""
    target = urllib.parse.urlsplit(url)
    if target.hostname != "127.0.0.1":
        raise ValueError(f"benchmarks only ever call 127.0.0.1, not {target.hostname}")

    def send() -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        connection.request(method, target.path or "/", body=body or None, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status >= 400:
            raise RuntimeError(f"{method} {url} answered {response.status} during the latency run")

    return send


def compare(
    direct: Callable[[], Any], gateway: Callable[[], None], count: int, rate: float
) -> tuple[list[float], list[float]]:
    """Milliseconds of ``count`` alternating direct and gateway calls, at most ``rate`` per second."""
    interval = 1 / rate
    direct_ms: list[float] = []
    gateway_ms: list[float] = []
    for index in range(WARMUP + count):
        cycle = time.perf_counter()
        direct()
        middle = time.perf_counter()
        gateway()
        done = time.perf_counter()
        if index >= WARMUP:
            direct_ms.append((middle - cycle) * 1000)
            gateway_ms.append((done - middle) * 1000)
        time.sleep(max(0.0, interval - (done - cycle)))
    return direct_ms, gateway_ms


def percentiles(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))], 2)

    return {"n": len(ordered), "p50": at(0.5), "p99": at(0.99)}
