"""The web app fails over when a region refuses connections exactly as when it answers 503: the
same request goes once to the next region (static/assets/regions.js under Node's fetch, against
real sockets on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .regions_client import request_with_failover


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = self.server.status  # type: ignore[attr-defined]
        body = json.dumps({"region": self.server.region, "status": "ok"}).encode()  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def _region(name: str, status: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.region, server.status = name, status  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def healthy() -> Iterator[str]:
    yield from _region("us-east-1", 200)


@pytest.fixture
def failed() -> Iterator[str]:
    yield from _region("us-west-2", 503)


@pytest.fixture
def refusing() -> str:
    """An address nothing listens at: connecting to it is refused (ECONNREFUSED)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_region_refusing_connections_fails_over_to_the_next(refusing, healthy):
    result = request_with_failover(
        [{"region": "us-west-2", "api": refusing}, {"region": "us-east-1", "api": healthy}], "/health"
    )
    assert (result["region"], result["status"]) == ("us-east-1", 200)
    assert [(a["region"], a["outcome"]) for a in result["attempts"]] == [
        ("us-west-2", "unreachable"),
        ("us-east-1", "ok"),
    ]
    assert result["failovers"] == [{"from": "us-west-2", "to": "us-east-1", "reason": "network error"}]


def test_a_refused_connection_is_handled_as_a_503_is(refusing, failed, healthy):
    def regions_tried(first: str) -> list[str]:
        result = request_with_failover(
            [{"region": "us-west-2", "api": first}, {"region": "us-east-1", "api": healthy}], "/health"
        )
        assert result["status"] == 200
        return [attempt["region"] for attempt in result["attempts"]]

    assert regions_tried(refusing) == regions_tried(failed) == ["us-west-2", "us-east-1"]
