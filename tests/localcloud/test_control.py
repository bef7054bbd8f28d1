"""The local control API: each route, and a clear JSON 4xx for every bad request (unknown region
or path, wrong method, a page of another origin, an action the region's state rules out)."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from localcloud.control import Conflict, ControlApi

ORIGIN = "http://127.0.0.1:4703"


class FakeCloud:
    """What the API drives, recording what it was asked to do."""

    def __init__(self) -> None:
        self.regions = {"us-east-1": object(), "us-west-2": object()}
        self.out: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def region_state(self, region: str) -> dict[str, Any]:
        out = region in self.out
        since = "2026-12-02T01:00:00.000+00:00" if out else None
        return {
            "region": region,
            "state": "blackout" if out else "up",
            "since": since,
            "backlog": 0,
            "lastOutage": None,
        }

    def black_out(self, region: str) -> dict[str, Any]:
        self.calls.append(("blackout", region))
        if region in self.out:
            raise Conflict(f"{region} is already blacked out")
        self.out.add(region)
        return self.region_state(region)

    def restore(self, region: str) -> dict[str, Any]:
        self.calls.append(("restore", region))
        if region not in self.out:
            raise Conflict(f"{region} is not blacked out")
        self.out.discard(region)
        return self.region_state(region)


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def client(cloud: FakeCloud) -> Client:
    return Client(ControlApi(cloud, ORIGIN))


def test_get_regions_lists_every_regions_state(client):
    reply = client.get("/regions")
    assert reply.status_code == 200
    assert reply.json == {"regions": {r: FakeCloud().region_state(r) for r in ("us-east-1", "us-west-2")}}


def test_blackout_blacks_the_region_out_and_answers_its_state(client, cloud):
    reply = client.post("/regions/us-west-2/blackout")
    assert reply.status_code == 200
    assert reply.json["state"] == "blackout"
    assert cloud.calls == [("blackout", "us-west-2")]
    assert client.get("/regions/us-west-2").json["state"] == "blackout"


def test_restore_ends_the_blackout(client, cloud):
    client.post("/regions/us-west-2/blackout")
    reply = client.post("/regions/us-west-2/restore")
    assert reply.status_code == 200
    assert reply.json["state"] == "up"


def test_a_second_blackout_is_a_409_conflict(client):
    client.post("/regions/us-east-1/blackout")
    reply = client.post("/regions/us-east-1/blackout")
    assert reply.status_code == 409
    assert reply.json == {"error": "us-east-1 is already blacked out"}


def test_restoring_a_region_that_is_up_is_a_409_conflict(client):
    reply = client.post("/regions/us-east-1/restore")
    assert reply.status_code == 409
    assert reply.json == {"error": "us-east-1 is not blacked out"}


@pytest.mark.parametrize("path", ["/regions/eu-west-9/blackout", "/regions/eu-west-9/restore"])
def test_an_unknown_region_is_a_404_naming_the_regions_and_changes_nothing(client, cloud, path):
    reply = client.post(path)
    assert reply.status_code == 404
    assert reply.json == {"error": "unknown region 'eu-west-9'; the regions are us-east-1, us-west-2"}
    assert cloud.calls == []


def test_get_on_an_action_is_a_405_saying_to_post(client, cloud):
    reply = client.get("/regions/us-west-2/blackout")
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "POST"
    assert reply.json == {"error": "GET is not allowed on /regions/us-west-2/blackout: use POST"}
    assert cloud.calls == []


def test_delete_on_the_list_is_a_405(client):
    reply = client.delete("/regions")
    assert reply.status_code == 405
    assert "use GET" in reply.json["error"]


def test_an_unknown_path_is_a_json_404_listing_the_routes(client):
    reply = client.post("/regions/us-west-2/explode")
    assert reply.status_code == 404
    assert reply.headers["Content-Type"] == "application/json"
    assert "POST /regions/<region>/blackout" in reply.json["error"]


def test_a_page_of_another_origin_is_refused_with_403(client, cloud):
    reply = client.post("/regions/us-west-2/blackout", headers={"Origin": "http://evil.example"})
    assert reply.status_code == 403
    assert "other origins" in reply.json["error"]
    assert cloud.calls == []


def test_its_own_origin_is_allowed(client):
    assert client.post("/regions/us-west-2/blackout", headers={"Origin": ORIGIN}).status_code == 200


def test_a_failure_of_the_local_cloud_is_a_json_500(client, cloud, monkeypatch):
    def broken(region: str) -> dict[str, Any]:
        raise RuntimeError("moto did not confirm blackout us-west-2: no answer")

    monkeypatch.setattr(cloud, "black_out", broken)
    reply = client.post("/regions/us-west-2/blackout")
    assert reply.status_code == 500
    assert reply.json == {
        "error": "blackout us-west-2 failed: moto did not confirm blackout us-west-2: no answer"
    }
