"""The Slack console's region outage drill: each region's state with a button to black it out or
restore it, sent to the local control API over HTTP and its answer shown."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from test_control import FakeCloud
from werkzeug.test import Client

from localcloud.control import ControlApi
from localcloud.httpserver import PooledServer
from localcloud.slack import SlackStandIn


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def console(cloud: FakeCloud) -> Iterator[Client]:
    server = PooledServer(0, None)
    url = f"http://127.0.0.1:{server.port}"
    server.app = ControlApi(cloud, url)
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    loop.start()
    try:
        slack = SlackStandIn("s", "T0001", dict.fromkeys(cloud.regions, "http://127.0.0.1:1"), control=url)
        yield Client(slack)
    finally:
        server.shutdown()
        server.server_close()


def test_the_console_offers_to_black_out_each_region_that_is_up(console):
    page = console.get("/console").get_data(as_text=True)
    for region in ("us-east-1", "us-west-2"):
        assert f'action="/console/regions/{region}/blackout"' in page
        assert f"Black out {region}</button>" in page


def test_the_blackout_button_blacks_the_region_out_through_the_control_api(console, cloud):
    reply = console.post("/console/regions/us-west-2/blackout")
    assert reply.status_code == 200
    assert cloud.calls == [("blackout", "us-west-2")]
    assert "the control API answered 200" in reply.get_data(as_text=True)
    # The console now offers the restore.
    page = console.get("/console").get_data(as_text=True)
    assert "Restore us-west-2</button>" in page
    assert 'action="/console/regions/us-west-2/restore"' in page


def test_the_control_apis_refusal_is_shown(console):
    reply = console.post("/console/regions/us-east-1/restore")
    assert "the control API answered 409" in reply.get_data(as_text=True)
    assert "us-east-1 is not blacked out" in reply.get_data(as_text=True)


def test_a_chaos_command_to_a_slack_api_that_refuses_connections_says_so(console):
    reply = console.post("/console/send", json={"region": "us-west-2", "text": "status"})
    assert reply.json["status"] == 502
    assert "us-west-2's Slack API did not answer" in reply.json["body"]
