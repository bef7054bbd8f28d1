"""Throttling under load: an open-loop load generator against one route of a local gateway.

Requests are sent on a fixed schedule (``offered`` per second for ``seconds``, so bounded in
count and time) from a separate process, whatever the answers, to 127.0.0.1 only. The bucket
starts full, so the first ``burst`` requests pass; once the first 429 shows it is empty, the
requests accepted per second must match the configured rate.

Run by ``bench`` as ``python -m bench.load`` with a JSON job on stdin; prints a JSON result.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from localcloud.slack import sign


@dataclass(frozen=True)
class Job:
    name: str
    url: str  # the route's full URL on 127.0.0.1
    method: str
    offered: float  # requests per second
    seconds: float
    body: str = ""
    headers: dict[str, str] | None = None
    slack_secret: str = ""  # sign each request as Slack does, just before it is sent

    @property
    def count(self) -> int:
        return int(self.offered * self.seconds)


def run(job: Job) -> dict[str, Any]:
    target = urllib.parse.urlsplit(job.url)
    if target.hostname != "127.0.0.1":
        raise ValueError(f"load is only ever sent to 127.0.0.1, not {target.hostname}")
    results: list[tuple[float, int, float]] = []
    lock = threading.Lock()

    def send(offset: float) -> None:
        headers = dict(job.headers or {})
        body = job.body.encode()
        if job.slack_secret:
            timestamp = int(time.time())
            headers["x-slack-request-timestamp"] = str(timestamp)
            headers["x-slack-signature"] = sign(job.slack_secret, timestamp, body)
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            connection.request(job.method, target.path or "/", body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
            connection.close()
        except OSError:
            status = 0
        with lock:
            results.append((offset, status, (time.perf_counter() - started) * 1000))

    interval = 1 / job.offered
    with ThreadPoolExecutor(max_workers=64) as pool:
        began = time.perf_counter()
        for index in range(job.count):
            due = began + index * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(send, time.perf_counter() - began)
    return summarize(job, results)


def summarize(job: Job, results: list[tuple[float, int, float]]) -> dict[str, Any]:
    results.sort()
    throttled = [offset for offset, status, _ in results if status == 429]
    accepted = [offset for offset, status, _ in results if status != 429 and 0 < status < 500]
    steady_from = throttled[0] if throttled else None
    end = results[-1][0] if results else 0.0
    steady = [offset for offset in accepted if steady_from is not None and offset >= steady_from]
    window = end - steady_from if steady_from is not None else 0.0
    statuses: dict[str, int] = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = sorted(latency for _, status, latency in results if status != 429)
    return {
        "name": job.name,
        "offeredPerSecond": job.offered,
        "seconds": job.seconds,
        "sent": len(results),
        "statuses": statuses,
        "accepted": len(accepted),
        "throttled": len(throttled),
        "errors5xx": sum(1 for _, status, _ in results if status >= 500 or status == 0),
        "burstAccepted": sum(1 for offset in accepted if steady_from is None or offset < steady_from),
        "steadyAcceptedPerSecond": round(len(steady) / window, 2) if window > 0 else None,
        "acceptedLatencyMs": {
            "p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1)
            if latencies
            else None,
        },
    }


def main() -> None:
    job = Job(**json.load(sys.stdin))
    json.dump(run(job), sys.stdout)


if __name__ == "__main__":
    main()
