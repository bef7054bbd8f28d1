"""The local cloud's HTTP servers: a fixed pool of request threads that a stalled client cannot hold
for long."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from waiting import wait_for

from localcloud import httpserver


class App:
    """A WSGI app that counts the requests it serves at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.release = threading.Event()

    def __call__(self, environ, start_response):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(timeout=10)
        with self.lock:
            self.running -= 1
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serve() -> Iterator:
    started: list[httpserver.PooledServer] = []

    def start(app, workers: int) -> httpserver.PooledServer:
        server = httpserver.PooledServer(_free_port(), app, workers=workers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _get(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status
    finally:
        connection.close()


def test_no_more_requests_are_served_at_once_than_the_pool_has_threads(serve):
    app = App()
    server = serve(app, workers=3)
    with ThreadPoolExecutor(max_workers=8) as clients:
        answers = [clients.submit(_get, server.port) for _ in range(8)]
        # The pool is full: the other five wait in the backlog.
        assert wait_for(lambda: app.running == 3, timeout=10), f"{app.running} requests reached the app"
        app.release.set()
        assert [answer.result(timeout=30) for answer in answers] == [200] * 8
    assert app.most == 3


def test_a_client_that_stops_mid_request_gives_its_thread_back(serve, monkeypatch):
    monkeypatch.setattr(httpserver._Handler, "timeout", 0.3)
    app = App()
    app.release.set()
    server = serve(app, workers=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the headers never end
        assert _get(server.port) == 200  # served once the stalled one times out
