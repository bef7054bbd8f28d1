"""Three regions: eu-west-1 added to the local cloud by LOCALCLOUD_STACKS alone (no stack file, as a
new region's file would hold only its region), then a blackout of the primary, one of us-west-2 and
the outage drill, each with the two other regions up. One local cloud for the module, on its own
ports and at the drill test's time scale (a one-minute drill lasts 10 s). HTTP on 127.0.0.1 only."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from webapp.regions_client import request_with_failover

from .cloud import PORT_BASE, Cloud, http, wait_for
from .conftest import running_cloud
from .test_blackout import RESTORE_WITHIN_S, click, control, refuses_connections
from .test_blackout import _health as health
from .test_blackout import _served_by_front_door as served_by_front_door

pytestmark = pytest.mark.e2e
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
REGIONS = (EAST, WEST, EU)
CLICKS_PER_REGION = 3


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    state = tmp_path_factory.mktemp("localcloud-three")
    env = {"LOCALCLOUD_STACKS": ",".join(REGIONS), "LOCALCLOUD_TIME_SCALE": "6"}
    started = time.monotonic()
    with running_cloud(state, PORT_BASE + 200, env) as running:
        print(f"three-region local cloud ready in {time.monotonic() - started:.1f} s")
        yield running


def listed_regions(cloud: Cloud, region: str) -> list[str]:
    """The regions `region`'s /config names: what its page fails over between."""
    return sorted(entry["region"] for entry in http("GET", f"{cloud.api(region)}/config").json()["regions"])


def views_reach(cloud: Cloud, regions: tuple[str, ...], token: str, expected: int, timeout: float) -> bool:
    found = wait_for(lambda: all(cloud.views(r, token) == expected for r in regions), timeout=timeout)
    return bool(found)


def test_a_listed_stack_without_a_stack_file_runs_as_a_third_region(three):
    assert list(three.state["regions"]) == list(REGIONS)
    assert three.state["withoutStackFile"] == [EU]
    for region in REGIONS:
        assert health(three, region) == 200, region
        assert listed_regions(three, region) == sorted(REGIONS), region
    # The user pool's one replica (Cognito allows one) is us-west-2's; a user signs in through every
    # region, eu-west-1's login at the primary.
    pool = http("GET", f"{three.api(EAST)}/config").json()["cognito"]["userPoolId"]
    replicas = three.aws("cognito-idp", EAST).list_user_pool_replicas(UserPoolId=pool)["UserPoolReplicas"]
    assert [(r["RegionName"], r["Role"]) for r in replicas] == [(EAST, "PRIMARY"), (WEST, "SECONDARY")]
    # The Slack console offers each region's blackout.
    console = http("GET", three.state["slack"]["console"]).body.decode()
    assert all(f'data-testid="outage-blackout-{region}"' in console for region in REGIONS)
    user = three.new_user()
    for region in REGIONS:
        token = three.token(region, user)
        assert all(click(three, other, token) == 200 for other in REGIONS), region
    three.wait_for_views(three.token(EU, user), len(REGIONS) ** 2)


def sign_in(cloud: Cloud, region: str, other: str, user: dict[str, str], failover: bool) -> str:
    """An ID token from `/login` in `region`; with `failover`, that region answers 503 and the web
    app's own failover (regions.js) gets it from `other`."""
    if not failover:
        return cloud.token(region, user)
    login = {"username": user["username"], "password": user["password"]}
    assert http("POST", f"{cloud.api(region)}/login", login).status == 503
    candidates = [{"region": name, "api": cloud.api(name)} for name in (region, other)]
    init = {"method": "POST", "headers": {"content-type": "application/json"}, "body": json.dumps(login)}
    answer = request_with_failover(candidates, "/login", init)
    assert (answer["region"], answer["status"]) == (other, 200), answer
    return str(answer["body"]["idToken"])


def _outage(cloud: Cloud, out: str) -> None:
    """Blackout of `out`: users signed in before keep clicking through both live regions, a new sign-in
    through each works in the other, and after the restore every region counts every click."""
    live = tuple(region for region in REGIONS if region != out)
    user = cloud.new_user()
    signed_in = cloud.token(EAST, user)
    assert click(cloud, out, signed_in) == 200
    cloud.wait_for_views(signed_in, 1)
    expected = 1

    reply = control(cloud, "POST", f"/regions/{out}/blackout")
    assert reply.status == 200, reply.body
    try:
        assert refuses_connections(f"{cloud.api(out)}/health")
        # The front door (a Route 53 latency record with health checks) sends everyone to a live region.
        assert wait_for(lambda: served_by_front_door(cloud) in live, timeout=30), served_by_front_door(cloud)
        for region in live:
            assert [click(cloud, region, signed_in) for _ in range(CLICKS_PER_REGION)] == [
                200
            ] * CLICKS_PER_REGION
            expected += CLICKS_PER_REGION
        # A new sign-in through each live region; its token works in the other one too. Without the
        # primary, eu-west-1 (no replica: Cognito allows one) answers 503 and the page's failover
        # signs in through us-west-2's replica.
        for region, other in (live, live[::-1]):
            fresh = sign_in(cloud, region, other, user, failover=(out == EAST and region == EU))
            assert (
                http("GET", f"{cloud.api(other)}/hello", headers={"authorization": f"Bearer {fresh}"}).status
                == 200
            )
            assert click(cloud, other, fresh) == 200
            expected += 1
        for region in live:
            # Each live region's page still knows every region (through the primary's outage, from
            # the region's own copy of the registry), and its /chaos status reports the outage.
            assert listed_regions(cloud, region) == sorted(REGIONS), region
            text = cloud.slack(region, "status").json()["body"]["text"]
            assert f"`{out}`: unknown (ConnectionClosedError)" in text, (region, text)
            (other,) = set(live) - {region}
            assert f"`{other}`: unknown" not in text, (region, text)
        # The live regions replicate to each other while the third is out.
        assert views_reach(cloud, live, signed_in, expected, timeout=30), {
            r: cloud.views(r, signed_in) for r in live
        }
    finally:
        reply = control(cloud, "POST", f"/regions/{out}/restore")
    restored = time.monotonic()
    assert reply.status == 200, reply.body
    assert wait_for(lambda: health(cloud, out) == 200, timeout=RESTORE_WITHIN_S), (
        f"{out} was not healthy within {RESTORE_WITHIN_S} s of the restore"
    )
    drained = wait_for(
        lambda: control(cloud, "GET", f"/regions/{out}").json()["lastOutage"]["drainedAt"],
        timeout=max(1.0, RESTORE_WITHIN_S - (time.monotonic() - restored)),
    )
    assert drained, control(cloud, "GET", f"/regions/{out}").json()
    # The backlog drained: the region that was out counts every click made without it.
    assert views_reach(cloud, REGIONS, signed_in, expected, timeout=RESTORE_WITHIN_S), {
        r: cloud.views(r, signed_in) for r in REGIONS
    }


def test_a_blacked_out_primary_leaves_sign_ins_and_clicks_to_both_secondaries(three):
    _outage(three, EAST)


def test_a_blacked_out_us_west_2_leaves_sign_ins_and_clicks_to_the_two_others(three):
    _outage(three, WEST)


def experiment_status(cloud: Cloud, region: str) -> str | None:
    found = cloud.aws("fis", region).list_experiments()["experiments"]
    return found[0]["state"]["status"] if found else None


def replicated(cloud: Cloud, region: str, key: dict) -> bool:
    item = cloud.aws("dynamodb", region).get_item(TableName=cloud.table_name(), Key=key, ConsistentRead=True)
    return "Item" in item


def test_the_drill_in_the_third_region_pauses_only_its_replication_and_functions(three):
    cloud = three
    reply = cloud.slack(WEST, f"drill {EU} 1")
    assert reply.status == 200, reply.body
    assert f"1-minute outage drill started in {EU}" in reply.json()["body"]["text"]
    assert wait_for(lambda: experiment_status(cloud, EU) == "running", timeout=10), experiment_status(
        cloud, EU
    )
    assert wait_for(lambda: health(cloud, EU) == 500, timeout=5)
    assert (health(cloud, EAST), health(cloud, WEST)) == (200, 200)

    # A change in the primary reaches us-west-2 but not the paused replica while the drill runs.
    key = {"pk": {"S": f"DRILL#{uuid.uuid4()}"}, "sk": {"S": "probe"}}
    cloud.aws("dynamodb", EAST).put_item(TableName=cloud.table_name(), Item={**key, "probe": {"S": "1"}})
    assert wait_for(lambda: replicated(cloud, WEST, key), timeout=10), "the change never reached us-west-2"
    assert not replicated(cloud, EU, key)
    assert experiment_status(cloud, EU) == "running", "the drill ended before replication was looked at"

    assert wait_for(lambda: experiment_status(cloud, EU) == "completed", timeout=30), experiment_status(
        cloud, EU
    )
    assert wait_for(lambda: replicated(cloud, EU, key), timeout=10), "the queued change never replicated"
    assert wait_for(lambda: health(cloud, EU) == 200, timeout=5)
