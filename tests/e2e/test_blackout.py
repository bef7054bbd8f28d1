"""A blackout of us-west-2 through the local control API: a real outage, then a restore that
drains the replication backlog. HTTP on 127.0.0.1 only."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from webapp.regions_client import request_with_failover

from .cloud import Cloud, http, user_id, wait_for

pytestmark = pytest.mark.e2e
WEST, EAST = "us-west-2", "us-east-1"
CLICKS_DURING_OUTAGE = 5
RESTORE_WITHIN_S = 60


def control(cloud: Cloud, method: str, path: str) -> Any:
    return http(method, f"{cloud.state['control']}{path}")


def refuses_connections(url: str) -> bool:
    """Whether connecting to `url` is refused (nothing listens there), as in an outage."""
    try:
        urllib.request.urlopen(url, timeout=5).close()  # noqa: S310 - loopback
    except urllib.error.URLError as error:
        return isinstance(error.reason, ConnectionRefusedError)
    return False


def click(cloud: Cloud, region: str, token: str) -> int:
    reply = http(
        "POST",
        f"{cloud.api(region)}/click",
        {"clickId": str(uuid.uuid4())},
        {"authorization": f"Bearer {token}"},
    )
    return reply.status


def ssm_without_retries(cloud: Cloud, region: str) -> Any:
    admin = cloud.state["admin"]
    return boto3.client(
        "ssm",
        region_name=region,
        endpoint_url=cloud.state["moto"],
        aws_access_key_id=admin["accessKeyId"],
        aws_secret_access_key=admin["secretAccessKey"],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def test_unknown_region_gets_a_clear_404_from_the_control_api(cloud):
    reply = control(cloud, "POST", "/regions/eu-west-9/blackout")
    assert reply.status == 404
    assert reply.json()["error"].startswith("unknown region 'eu-west-9'")


def test_a_blacked_out_us_west_2_refuses_connections_and_catches_up_once_restored(cloud):
    user = cloud.new_user()
    token = cloud.token(EAST, user)
    assert click(cloud, WEST, token) == 200
    cloud.wait_for_views(token, 1)

    reply = control(cloud, "POST", f"/regions/{WEST}/blackout")
    assert reply.status == 200, reply.body
    assert reply.json()["state"] == "blackout"
    try:
        # Not a 503 from the app: nothing answers at the region's addresses.
        assert refuses_connections(f"{cloud.api(WEST)}/health")
        assert refuses_connections(f"{cloud.state['regions'][WEST]['slackApi']}/slack/commands")
        # AWS calls to the region fail as an unreachable endpoint would, the admin's included.
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            ssm_without_retries(cloud, WEST).get_parameters_by_path(Path="/active-active", Recursive=True)
        assert ssm_without_retries(cloud, EAST).get_parameters_by_path(Path="/active-active", Recursive=True)[
            "Parameters"
        ]
        # The other region's /chaos status says it cannot reach the region's chaos state.
        status = cloud.slack(EAST, "status").json()
        assert "`us-west-2`: unknown (ConnectionClosedError)" in status["body"]["text"], status
        # The front door (standing for a Route 53 latency record with health checks) sends
        # everyone to us-east-1.
        assert wait_for(lambda: _served_by_front_door(cloud) == EAST, timeout=30)
        # The web app's own failover moves a request from the refusing region to us-east-1.
        failed_over = request_with_failover(
            [{"region": WEST, "api": cloud.api(WEST)}, {"region": EAST, "api": cloud.api(EAST)}],
            "/hello",
            {"headers": {"authorization": f"Bearer {token}"}},
        )
        assert (failed_over["region"], failed_over["status"]) == (EAST, 200)
        assert failed_over["attempts"][0]["outcome"] == "unreachable"
        # Clicks through us-east-1 keep working; us-east-1 counts them.
        assert [click(cloud, EAST, token) for _ in range(CLICKS_DURING_OUTAGE)] == [
            200
        ] * CLICKS_DURING_OUTAGE
        expected = 1 + CLICKS_DURING_OUTAGE
        assert wait_for(lambda: cloud.views(EAST, token) == expected, timeout=30), cloud.views(EAST, token)
        # Their replication to us-west-2 waits in the backlog.
        queued = wait_for(
            lambda: control(cloud, "GET", f"/regions/{WEST}").json()["backlog"] >= CLICKS_DURING_OUTAGE,
            timeout=30,
        )
        assert queued, control(cloud, "GET", f"/regions/{WEST}").json()
    finally:
        reply = control(cloud, "POST", f"/regions/{WEST}/restore")
    restored = time.monotonic()
    assert reply.status == 200, reply.body
    assert reply.json()["lastOutage"]["backlog"] >= CLICKS_DURING_OUTAGE

    healthy = wait_for(lambda: _health(cloud, WEST) == 200, timeout=RESTORE_WITHIN_S)
    assert healthy, f"{WEST} was not healthy within {RESTORE_WITHIN_S} s of the restore"
    drained = wait_for(
        lambda: control(cloud, "GET", f"/regions/{WEST}").json()["lastOutage"]["drainedAt"],
        timeout=max(1.0, RESTORE_WITHIN_S - (time.monotonic() - restored)),
    )
    assert drained, control(cloud, "GET", f"/regions/{WEST}").json()
    # Every click made during the outage is in us-west-2's counts.
    assert cloud.views(WEST, token) == expected, user_id(token)
    assert control(cloud, "GET", "/regions").json()["regions"][WEST]["state"] == "up"


def _served_by_front_door(cloud: Cloud) -> str | None:
    try:
        reply = http("GET", f"{cloud.state['site']}/health", timeout=5)
        return str(reply.json()["region"]) if reply.status == 200 else None
    except (OSError, ValueError, KeyError):
        return None


def _health(cloud: Cloud, region: str) -> int:
    try:
        return http("GET", f"{cloud.api(region)}/health", timeout=5).status
    except OSError:
        return 0


def test_a_blacked_out_primary_leaves_sign_ins_and_clicks_to_us_west_2(cloud):
    """Issue 13, acceptance 1 and 2 for the primary: us-east-1 (and its user pool) goes dark."""
    user = cloud.new_user()
    signed_in = cloud.token(EAST, user)  # before the outage, through the primary
    assert click(cloud, EAST, signed_in) == 200
    cloud.wait_for_views(signed_in, 1)

    reply = control(cloud, "POST", f"/regions/{EAST}/blackout")
    assert reply.status == 200, reply.body
    try:
        assert refuses_connections(f"{cloud.api(EAST)}/health")
        # A user already signed in keeps clicking through us-west-2, with no error.
        assert [click(cloud, WEST, signed_in) for _ in range(CLICKS_DURING_OUTAGE)] == [
            200
        ] * CLICKS_DURING_OUTAGE
        # A new sign-in through us-west-2 succeeds (its login function signs in against the
        # pool's replica there) and its token works there.
        fresh = cloud.token(WEST, user)
        assert (
            http("GET", f"{cloud.api(WEST)}/hello", headers={"authorization": f"Bearer {fresh}"}).status
            == 200
        )
        assert click(cloud, WEST, fresh) == 200
        # The other region's /chaos status reports the outage.
        status = cloud.slack(WEST, "status").json()
        assert "`us-east-1`: unknown (ConnectionClosedError)" in status["body"]["text"], status
        expected = 1 + CLICKS_DURING_OUTAGE + 1
        assert wait_for(lambda: cloud.views(WEST, signed_in) == expected, timeout=30), cloud.views(
            WEST, signed_in
        )
    finally:
        reply = control(cloud, "POST", f"/regions/{EAST}/restore")
    assert reply.status == 200, reply.body
    assert wait_for(lambda: _health(cloud, EAST) == 200, timeout=RESTORE_WITHIN_S), (
        f"{EAST} was not healthy within {RESTORE_WITHIN_S} s of the restore"
    )
    # The primary's counts include every click made while it was out (the backlog drained).
    assert wait_for(lambda: cloud.views(EAST, signed_in) == expected, timeout=RESTORE_WITHIN_S), cloud.views(
        EAST, signed_in
    )
