"""Logins that survive the primary's outage: the user pool's replica in us-west-2 (Cognito
multi-Region replication, emulated by localcloud.cognito), its login function signing in there,
and one multi-Region issuer that every region's authorizer trusts. HTTP and moto on 127.0.0.1."""

from __future__ import annotations

import base64
import json

import pytest

from .cloud import REGIONS, http, wait_for

pytestmark = pytest.mark.e2e
PRIMARY, SECONDARY = REGIONS
# A user created in the primary reaches the replica asynchronously in AWS; here at once.
REPLICATION_TIMEOUT_S = 10.0


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _pool_id(cloud) -> str:
    return str(http("GET", f"{cloud.api(PRIMARY)}/config").json()["cognito"]["userPoolId"])


def _login_environment(cloud, region: str) -> dict[str, str]:
    """The login function's environment as the region's stack deployed it."""
    graph = json.loads((cloud.state_dir / region / "graph.json").read_text())
    [login] = [
        r
        for r in graph["resources"]
        if r["type"] == "aws:lambda/function:Function" and r["name"] == "user-login-function"
    ]
    return dict(login["inputs"]["environment"]["variables"])


def test_the_replica_in_the_secondary_has_the_pools_id_and_users(cloud):
    pool_id = _pool_id(cloud)
    replica = cloud.aws("cognito-idp", SECONDARY).describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert replica["Id"] == pool_id
    users = cloud.aws("cognito-idp", SECONDARY).list_users(UserPoolId=pool_id)["Users"]
    assert cloud.state["demoUser"]["username"] in {user["Username"] for user in users}
    replicas = cloud.aws("cognito-idp", PRIMARY).list_user_pool_replicas(UserPoolId=pool_id)[
        "UserPoolReplicas"
    ]
    assert {(r["RegionName"], r["Role"], r["Status"]) for r in replicas} == {
        (PRIMARY, "PRIMARY", "ACTIVE"),
        (SECONDARY, "SECONDARY", "ACTIVE"),
    }


@pytest.mark.parametrize("region", REGIONS)
def test_each_regions_login_signs_in_against_the_pool_in_its_own_region(cloud, region):
    assert _login_environment(cloud, region)["USER_POOL_REGION"] == region


def test_a_login_through_the_secondary_gives_a_token_every_regions_api_accepts(cloud):
    user = cloud.new_user()  # created in the primary after deployment, like any later user
    pool_id = _pool_id(cloud)
    replicated = wait_for(
        lambda: any(
            u["Username"] == user["username"]
            for u in cloud.aws("cognito-idp", SECONDARY).list_users(UserPoolId=pool_id)["Users"]
        ),
        timeout=REPLICATION_TIMEOUT_S,
    )
    assert replicated, f"{user['username']} never reached the replica in {SECONDARY}"
    reply = http("POST", f"{cloud.api(SECONDARY)}/login", user)
    assert reply.status == 200, reply.body
    tokens = reply.json()
    assert (
        _claims(tokens["idToken"])["iss"] == f"https://issuer-cognito-idp.{PRIMARY}.amazonaws.com/{pool_id}"
    )
    for kind in ("idToken", "accessToken"):
        for region in REGIONS:
            hello = http(
                "GET", f"{cloud.api(region)}/hello", headers={"authorization": f"Bearer {tokens[kind]}"}
            )
            assert hello.status == 200, (kind, region, hello.body)
            assert hello.json()["region"] == region
