"""End to end against a running local cloud (both regions deployed from the real program):
HTTP only, 127.0.0.1 only."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from .cloud import http

pytestmark = pytest.mark.e2e
REGIONS = ("us-east-1", "us-west-2")


def wait_until(check, timeout: float = 10.0, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.mark.parametrize("region", REGIONS)
def test_health_answers_ok_with_its_region(cloud, region):
    reply = http("GET", f"{cloud.api(region)}/health")
    assert reply.status == 200
    assert reply.json() == {"region": region, "status": "ok"}


@pytest.mark.parametrize("region", REGIONS)
def test_config_lists_every_region_and_the_primary_pool(cloud, region):
    config = http("GET", f"{cloud.api(region)}/config").json()
    assert config["region"] == region
    assert {item["region"]: item["api"] for item in config["regions"]} == {r: cloud.api(r) for r in REGIONS}
    assert config["cognito"]["region"] == "us-east-1"
    assert config["cognito"]["userPoolId"].startswith("us-east-1_")


def test_unknown_path_gets_the_custom_404_page_in_a_browser(cloud):
    reply = http("GET", f"{cloud.api('us-east-1')}/no/such/page", headers={"accept": "text/html"})
    assert reply.status == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert b"<html" in reply.body.lower()


def test_unknown_path_gets_a_json_404_for_api_clients(cloud):
    reply = http("GET", f"{cloud.api('us-west-2')}/no/such/page", headers={"accept": "application/json"})
    assert reply.status == 404
    assert "error" in reply.json()


def test_bad_password_gets_401_with_a_clear_error(cloud):
    reply = http(
        "POST", f"{cloud.api('us-east-1')}/login", {"username": "demo", "password": "wrong-password"}
    )
    assert reply.status == 401
    assert reply.json() == {"error": "incorrect username or password"}


def test_good_login_returns_tokens(cloud):
    user = cloud.state["demoUser"]
    reply = http(
        "POST",
        f"{cloud.api('us-west-2')}/login",
        {"username": user["username"], "password": user["password"]},
    )
    assert reply.status == 200
    assert {"idToken", "accessToken", "refreshToken", "expiresIn"} <= set(reply.json())


def test_hello_works_in_each_region_with_the_same_token(cloud):
    token = cloud.token("us-east-1")
    for region in REGIONS:
        reply = http("GET", f"{cloud.api(region)}/hello", headers={"authorization": f"Bearer {token}"})
        assert reply.status == 200, region
        body = reply.json()
        assert body["message"] == f"hello from {region}"
        assert body["image"].startswith("data:image/svg+xml;base64,")


def test_hello_without_a_token_gets_the_gateways_401(cloud):
    reply = http("GET", f"{cloud.api('us-east-1')}/hello")
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}
    assert "www-authenticate" in reply.headers


def test_three_clicks_count_up_one_by_one(cloud):
    token = cloud.token()
    headers = {"authorization": f"Bearer {token}"}
    api = cloud.api("us-east-1")
    counts = []
    for _ in range(3):
        reply = http("POST", f"{api}/click", {}, headers)
        assert reply.status == 200, reply.body
        counts.append(reply.json()["views"])
        time.sleep(1.5)  # the writer stores each view asynchronously, through the bus
    assert counts[1] == counts[0] + 1 and counts[2] == counts[1] + 1, counts
    assert reply.json()["message"] == f"page viewed {counts[2]} times"


def test_clicks_alternating_between_regions_count_up_one_by_one(cloud):
    headers = {"authorization": f"Bearer {cloud.token()}"}
    counts = []
    for region in (*REGIONS, *REGIONS):
        reply = http("POST", f"{cloud.api(region)}/click", {}, headers)
        assert reply.status == 200, reply.body
        counts.append(reply.json()["views"])
        time.sleep(1.5)  # the writer stores each view asynchronously; a global table replicates in ~1 s
    assert counts == list(range(counts[0], counts[0] + 4)), counts


def test_injected_errors_show_the_error_image_and_a_retry_succeeds(cloud):
    token = cloud.token()
    headers = {"authorization": f"Bearer {token}"}
    api = cloud.api("us-west-2")
    assert cloud.slack("us-west-2", "errors 1").status == 200
    try:
        failed = wait_until(lambda: (r := http("POST", f"{api}/click", {}, headers)).status == 500 and r)
        assert failed, "errors 1 did not make clicks fail within 10 s"
        body = failed.json()
        assert body["retry"] is True
        assert body["image"].startswith("data:image/svg+xml;base64,")
        assert "injected" in body["error"]
    finally:
        assert cloud.slack("us-west-2", "errors 0").status == 200
    retried = wait_until(lambda: (r := http("POST", f"{api}/click", {}, headers)).status == 200 and r)
    assert retried and retried.json()["views"] >= 1


def _signed(cloud, body: bytes, timestamp: int) -> dict[str, str]:
    from localcloud.slack import sign

    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": sign(cloud.state["slack"]["signingSecret"], timestamp, body),
    }


def _command(cloud, text: str) -> bytes:
    form = {
        "team_id": cloud.state["slack"]["teamId"],
        "user_name": "mallory",
        "command": "/chaos",
        "text": text,
    }
    return urllib.parse.urlencode(form).encode()


def _chaos_status(cloud) -> str:
    return cloud.slack("us-east-1", "status").json()["body"]["text"]


def test_forged_slack_request_is_refused_and_changes_nothing(cloud):
    before = _chaos_status(cloud)
    body = _command(cloud, "fail us-east-1")
    headers = _signed(cloud, body, int(time.time()))
    headers["x-slack-signature"] = "v0=" + "0" * 64
    reply = http("POST", f"{cloud.state['regions']['us-east-1']['slackApi']}/slack/commands", body, headers)
    assert reply.status == 401
    assert _chaos_status(cloud) == before


def test_replayed_slack_request_is_refused(cloud):
    body = _command(cloud, "fail us-east-1")
    headers = _signed(cloud, body, int(time.time()) - 6 * 60)
    reply = http("POST", f"{cloud.state['regions']['us-east-1']['slackApi']}/slack/commands", body, headers)
    assert reply.status == 401


def test_tampered_slack_request_is_refused(cloud):
    headers = _signed(cloud, _command(cloud, "status"), int(time.time()))
    reply = http(
        "POST",
        f"{cloud.state['regions']['us-east-1']['slackApi']}/slack/commands",
        _command(cloud, "fail us-east-1"),
        headers,
    )
    assert reply.status == 401
    assert "FAILED" not in _chaos_status(cloud)


def test_failing_a_region_from_slack_fails_it_within_5_seconds_and_recover_restores_it(cloud):
    token = cloud.token()
    headers = {"authorization": f"Bearer {token}"}
    east, west = cloud.api("us-east-1"), cloud.api("us-west-2")
    reply = cloud.slack("us-west-2", "fail us-east-1")
    assert reply.status == 200 and reply.json()["body"]["response_type"] == "in_channel"
    started = time.monotonic()
    try:
        assert wait_until(lambda: http("GET", f"{east}/health").status == 503, timeout=5.0), (
            "not failed within 5 s"
        )
        assert time.monotonic() - started <= 5.0
        assert http("GET", f"{east}/hello", headers=headers).status == 503
        assert http("POST", f"{east}/click", {}, headers).status == 503
        assert http("GET", f"{west}/health").status == 200
        assert http("GET", f"{west}/hello", headers=headers).status == 200
        assert "us-east-1`: *FAILED*" in _chaos_status(cloud)
    finally:
        assert cloud.slack("us-east-1", "recover us-east-1").status == 200
    assert wait_until(lambda: http("GET", f"{east}/health").status == 200, timeout=5.0)
    assert http("GET", f"{east}/hello", headers=headers).status == 200
    assert "FAILED" not in _chaos_status(cloud)


def test_front_door_serves_the_app_from_a_healthy_region(cloud):
    reply = http("GET", f"{cloud.state['site']}/health")
    assert reply.status == 200
    assert reply.headers["x-served-by-region"] in REGIONS
