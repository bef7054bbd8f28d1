"""The front door passes a region's response headers through once, over real HTTP."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from localcloud.frontdoor import FrontDoor


@Request.application
def region(request: Request) -> Response:
    if request.path == "/health":
        return Response('{"status":"ok"}', content_type="application/json")
    return Response("<!doctype html><p>the web app</p>", content_type="text/html; charset=utf-8")


def serve(app: object) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture
def front_door_port() -> Iterator[int]:
    region_url, region_server = serve(region)
    door = FrontDoor({"us-east-1": region_url}, interval=60)
    door.check_all()
    door_server = make_server("127.0.0.1", 0, door)
    threading.Thread(target=door_server.serve_forever, daemon=True).start()
    yield door_server.server_port
    door_server.shutdown()
    region_server.shutdown()  # type: ignore[attr-defined]


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
