"""The local cloud's HTTP servers: a fixed pool of request threads that a stalled or idle client
cannot hold for long, HTTP/1.1 keep-alive where the next request cannot be misread, and a stop
that leaves nothing running."""

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
    """A WSGI app that counts the requests it serves at once and the connections they came on;
    it reads the request's body only when told to."""

    def __init__(self, read_body: bool = True) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.release = threading.Event()
        self.client_ports: list[int] = []
        self.bodies: list[bytes] = []
        self.read_body = read_body

    def __call__(self, environ, start_response):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.client_ports.append(environ["REMOTE_PORT"])
        if self.read_body:
            self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        self.release.wait(timeout=10)
        with self.lock:
            self.running -= 1
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


@pytest.fixture
def serve() -> Iterator:
    started: list[httpserver.PooledServer] = []

    def start(app, workers: int = 4) -> httpserver.PooledServer:
        server = httpserver.PooledServer(0, app, workers=workers)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
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


def _exchange(connection: http.client.HTTPConnection, method: str = "GET", body: bytes | None = None):
    connection.request(method, "/", body=body)
    response = connection.getresponse()
    return response.status, response.read(), response.will_close


def _on_one_connection(port: int, *requests: tuple[str, bytes | None]) -> list:
    """Each request's (status, body, will the connection close), all sent on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        return [_exchange(connection, method, body) for method, body in requests]
    finally:
        connection.close()


def _answer(client: socket.socket) -> bytes:
    """One whole answer of the App's (its body is ``ok``) read off a raw socket."""
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = client.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


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
    monkeypatch.setattr(httpserver.KeepAliveHandler, "timeout", 0.3)
    app = App()
    app.release.set()
    server = serve(app, workers=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as stalled:
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the headers never end
        assert _get(server.port) == 200  # served once the stalled one times out


def test_requests_on_one_connection_are_all_answered_on_it(serve):
    app = App()
    app.release.set()
    server = serve(app)
    answers = _on_one_connection(server.port, ("GET", None), ("POST", b'{"n":1}'), ("GET", None))
    assert answers == [(200, b"ok", False)] * 3
    assert app.bodies == [b"", b'{"n":1}', b""]
    assert len(set(app.client_ports)) == 1, "a request came on another connection"


def test_a_body_the_app_leaves_unread_is_not_read_as_the_next_request(serve):
    app = App(read_body=False)
    app.release.set()
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    answers = _on_one_connection(serve(app).port, ("POST", smuggled), ("GET", None))
    assert answers == [(200, b"ok", False)] * 2
    assert len(app.client_ports) == 2  # the POST and the GET; the POST's body reached no app


def test_a_large_body_the_app_leaves_unread_closes_the_connection(serve):
    app = App(read_body=False)
    app.release.set()
    big = b"x" * (httpserver.DRAIN_BYTES + 1)
    assert _on_one_connection(serve(app).port, ("POST", big)) == [(200, b"ok", True)]


def test_a_kept_connection_idle_past_the_idle_timeout_is_closed(serve, monkeypatch):
    monkeypatch.setattr(httpserver.KeepAliveHandler, "timeout", 0.3)
    app = App()
    app.release.set()
    server = serve(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(idle).startswith(b"HTTP/1.1 200 OK")
        assert idle.recv(1) == b""  # closed by the server after 0.3 s, well within the socket's 30 s


def test_connections_are_not_kept_once_most_threads_are_taken(serve):
    app = App()
    app.release.set()
    server = serve(app, workers=4)
    connections = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30) for _ in range(4)]
    try:
        kept = [not _exchange(connection)[2] for connection in connections]
    finally:
        for connection in connections:
            connection.close()
    assert kept == [True, True, True, False]  # three of four threads may wait on idle connections


def test_stop_closes_every_connection_and_leaves_no_thread():
    before = set(threading.enumerate())
    app = App()
    app.release.set()
    server = httpserver.PooledServer(0, app, workers=3)
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    loop.start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(client).startswith(b"HTTP/1.1 200 OK")
        server.shutdown()
        server.server_close()
        assert client.recv(1) == b""  # the kept connection was closed, not left open
    loop.join(timeout=30)
    left = wait_for(lambda: not (set(threading.enumerate()) - before), timeout=10)
    assert left, f"threads left running: {sorted(t.name for t in set(threading.enumerate()) - before)}"


def test_a_small_response_leaves_in_one_write_and_100_continue_before_the_body(serve, monkeypatch):
    writes: list[bytes] = []
    original = socket.SocketIO.write

    def write(self: socket.SocketIO, data) -> int:
        writes.append(bytes(data))
        return original(self, data)

    monkeypatch.setattr(socket.SocketIO, "write", write)
    app = App()
    app.release.set()
    server = serve(app)
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        # Before the body is sent (http.server and werkzeug each answer it: two are sent, as before).
        assert client.recv(1000).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        client.sendall(b"hi")
        answer = b""
        while not answer.endswith(b"ok"):
            answer += client.recv(1000)

    assert app.bodies == [b"hi"]
    assert writes[-1].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[-1].endswith(b"\r\n\r\nok")  # the status line, the headers and the body: one write


def test_a_client_gone_mid_answer_is_not_reported_and_any_other_error_is(capsys):
    server = httpserver.PooledServer(0, App(), workers=1)
    try:
        for error, reported in ((BrokenPipeError(32, "Broken pipe"), False), (ValueError("a bug"), True)):
            try:
                raise error
            except (BrokenPipeError, ValueError):
                server.handle_error(None, ("127.0.0.1", 1))
            assert ("Traceback" in capsys.readouterr().err) is reported, error
    finally:
        server.server_close()


def test_a_port_in_use_stops_with_werkzeugs_message_naming_it(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit):
            httpserver.PooledServer(port, App())
    assert f"Port {port} is in use by another program" in capsys.readouterr().err
