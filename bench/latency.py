"""Warm latency through the local gateway against a direct call of the same warm function.

For each API function, the probe request (``bench.coldstart.probes``) is built into its event by
the gateway's own event builder once; then, alternately, the event is invoked directly on the
function's warm Lambda worker (as ``aws lambda invoke`` would) and the same request is sent over
HTTP through the gateway, which invokes that same worker. Alternating puts both under the same
machine load. The gateway's overhead is measured per request, as API Gateway reports it: the
client's time minus the integration latency (the function's invocation inside the gateway,
timed by wrapping the function the route invokes), so the function's own variation cancels
out. Requests are paced below the route's throttling; the first few warm the workers and are
not counted.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WARMUP = 5


def http_sender(url: str, method: str, headers: dict[str, str], body: bytes) -> Callable[[], str]:
    """One request over a new connection; returns API Gateway's request id, raises on failure."""
    target = urllib.parse.urlsplit(url)
    if target.hostname != "127.0.0.1":
        raise ValueError(f"benchmarks only ever call 127.0.0.1, not {target.hostname}")

    def send() -> str:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        connection.request(method, target.path or "/", body=body or None, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status >= 400:
            raise RuntimeError(f"{method} {url} answered {response.status} during the latency run")
        return str(response.getheader("apigw-requestid"))

    return send


@dataclass
class Comparison:
    direct_ms: list[float] = field(default_factory=list)
    gateway_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)


def compare(
    function: Any, event: dict[str, Any], gateway: Callable[[], str], count: int, rate: float
) -> Comparison:
    """``count`` alternating direct invocations of ``function`` and gateway requests, at most
    ``rate`` per second; each gateway request's overhead beyond its own invocation."""
    invocations: dict[str, float] = {}
    invoke = function.invoke

    def timed(event: dict[str, Any], **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return invoke(event, **options)
        finally:
            invocations[event["requestContext"]["requestId"]] = (time.perf_counter() - started) * 1000

    result = Comparison()
    function.invoke = timed
    try:
        interval = 1 / rate
        for index in range(WARMUP + count):
            cycle = time.perf_counter()
            invoke(event, wait=True)
            middle = time.perf_counter()
            request_id = gateway()
            done = time.perf_counter()
            if index >= WARMUP:
                result.direct_ms.append((middle - cycle) * 1000)
                result.gateway_ms.append((done - middle) * 1000)
                result.overhead_ms.append((done - middle) * 1000 - invocations.pop(request_id))
            invocations.clear()
            time.sleep(max(0.0, interval - (done - cycle)))
    finally:
        del function.invoke  # the class's method again
    return result


def percentiles(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))], 2)

    return {"n": len(ordered), "p50": at(0.5), "p99": at(0.99)}
