"""The front door passes a region's response headers through once, over real HTTP."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from werkzeug.wrappers import Request, Response

from localcloud.frontdoor import FrontDoor
from localcloud.httpserver import PooledServer


@Request.application
def region(request: Request) -> Response:
    if request.path == "/health":
        return Response('{"status":"ok"}', content_type="application/json")
    return Response("<!doctype html><p>the web app</p>", content_type="text/html; charset=utf-8")


def serve(app: object) -> PooledServer:
    server = PooledServer(0, app)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def front_door_port() -> Iterator[int]:
    region_server = serve(region)
    door = FrontDoor({"us-east-1": f"http://127.0.0.1:{region_server.port}"}, interval=60)
    door.check_all()
    door_server = serve(door)
    yield door_server.port
    for server in (door_server, region_server):
        server.shutdown()
        server.server_close()
    door.stop()


def get_root(port: int) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/")
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_front_door_root_has_one_content_type_the_regions_html(front_door_port: int) -> None:
    response = get_root(front_door_port)
    values = response.msg.get_all("Content-Type")
    assert values == ["text/html; charset=utf-8"]


def test_front_door_root_has_one_server_and_one_date_header(front_door_port: int) -> None:
    response = get_root(front_door_port)
    assert len(response.msg.get_all("Server") or []) == 1
    assert len(response.msg.get_all("Date") or []) == 1
    assert response.getheader("x-served-by-region") == "us-east-1"
