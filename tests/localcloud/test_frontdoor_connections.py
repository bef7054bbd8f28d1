"""The front door keeps its connections to a region alive, replaces one the region closed, never
sends a POST twice, and stops with nothing left running; over real HTTP, with plain clients."""

from __future__ import annotations

import http.client
import socketserver
import threading
from collections.abc import Iterator

import pytest
from waiting import wait_for

from localcloud.frontdoor import FrontDoor
from localcloud.httpserver import PooledServer


class Region:
    """A region's server (the local cloud's own kind) whose app notes the connection of each request."""

    def __init__(self, port: int = 0) -> None:
        self.client_ports: list[str] = []
        self.server = PooledServer(port, self.app)
        self.port = self.server.port
        self.loop = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.loop.start()

    def app(self, environ, start_response):
        self.client_ports.append(environ["REMOTE_PORT"])
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "9")])
        return [b"<p>hi</p>"]

    @property
    def connections(self) -> int:
        return len(set(self.client_ports))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.loop.join(timeout=30)


class ScriptedRegion(socketserver.ThreadingTCPServer):
    """An HTTP/1.1 region that answers each request, or reads it and hangs up without a word, as
    ``answers`` says (True: answer), counting its connections and the requests that reached it."""

    daemon_threads = True

    def __init__(self, answers: list[bool]) -> None:
        super().__init__(("127.0.0.1", 0), _Scripted)
        self.answers = answers
        self.connections = 0
        self.methods: list[str] = []
        self.loop = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self.loop.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.loop.join(timeout=30)


class _Scripted(socketserver.StreamRequestHandler):
    server: ScriptedRegion

    def handle(self) -> None:
        self.server.connections += 1
        while line := self.rfile.readline():
            length = 0
            while (header := self.rfile.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.rfile.read(length)
            self.server.methods.append(line.split()[0].decode())
            if not self.server.answers.pop(0):
                return  # the connection closes: the request reached the region, no answer left it
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class Door:
    def __init__(self, region_port: int) -> None:
        self.front = FrontDoor({"us-east-1": f"http://127.0.0.1:{region_port}"}, interval=60)
        self.front.start()  # its first health check opens the connection the requests reuse
        self.server = PooledServer(0, self.front)
        self.loop = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.loop.start()

    def request(self, method: str = "GET", body: bytes | None = None) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request(method, "/", body=body)
            response = connection.getresponse()
            response.read()
            return response
        finally:
            connection.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.loop.join(timeout=30)
        self.front.stop()


@pytest.fixture
def region() -> Iterator[Region]:
    started = Region()
    yield started
    started.stop()


def test_requests_through_the_front_door_share_one_connection_to_the_region(region):
    door = Door(region.port)
    try:
        assert [door.request().status for _ in range(2)] == [200, 200]
    finally:
        door.stop()
    assert len(region.client_ports) == 3  # the health check and both requests
    assert region.connections == 1


def test_a_region_restarted_between_requests_is_reconnected_for_a_get(region):
    door = Door(region.port)
    try:
        assert door.request().status == 200
        region.stop()
        restarted = Region(region.port)
        try:
            response = door.request()
            assert (response.status, response.getheader("x-served-by-region")) == (200, "us-east-1")
            assert restarted.connections == 1
        finally:
            restarted.stop()
    finally:
        door.stop()


def test_a_get_whose_kept_connection_drops_unanswered_is_sent_again_on_a_new_one():
    region = ScriptedRegion(answers=[True, False, True])  # the health check, then the GET twice
    door = Door(region.server_address[1])
    try:
        assert door.request("GET").status == 200
    finally:
        door.stop()
        region.stop()
    assert (region.methods, region.connections) == (["GET", "GET", "GET"], 2)


def test_a_post_whose_kept_connection_drops_unanswered_is_not_sent_again():
    region = ScriptedRegion(answers=[True, False, True])
    door = Door(region.server_address[1])
    try:
        assert door.request("POST", body=b'{"n":1}').status == 502
    finally:
        door.stop()
        region.stop()
    assert (region.methods, region.connections) == (["GET", "POST"], 1)


def test_the_front_door_and_the_servers_stop_with_no_thread_left():
    before = set(threading.enumerate())
    region = Region()
    door = Door(region.port)
    assert door.request().status == 200
    door.stop()
    region.stop()
    left = wait_for(lambda: not (set(threading.enumerate()) - before), timeout=10)
    assert left, f"threads left running: {sorted(t.name for t in set(threading.enumerate()) - before)}"
