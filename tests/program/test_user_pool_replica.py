"""The Cognito replica's dynamic providers (components.user_pool_replica): diff, create, update
and delete against a botocore client stubbed with Stubber, so every call and its order is
checked against Cognito's service model; no network."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from components import user_pool_replica
from components.user_pool_replica import (
    POLL_SECONDS,
    ReplicaNotReady,
    UserPoolMultiRegionProvider,
    UserPoolReplicaProvider,
    multi_region_issuer,
)

POOL = "us-east-1_Abc123"
KEY = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd"
PRIMARY_ARN = f"arn:aws:cognito-idp:us-east-1:123456789012:userpool/{POOL}"
REPLICA_ARN = f"arn:aws:cognito-idp:us-west-2:123456789012:userpool/{POOL}"
PROPS = {
    "kind": "UserPoolReplica",
    "userPoolId": POOL,
    "primaryRegion": "us-east-1",
    "regionName": "us-west-2",
    "status": "ACTIVE",
    "tags": {"app": "active-active"},
}
WHERE = {"UserPoolId": POOL, "RegionName": "us-west-2"}


def _primary() -> dict[str, str]:
    return {"RegionName": "us-east-1", "Status": "ACTIVE", "Role": "PRIMARY", "UserPoolArn": PRIMARY_ARN}


def _replica(status: str) -> dict[str, str]:
    return {"RegionName": "us-west-2", "Status": status, "Role": "SECONDARY", "UserPoolArn": REPLICA_ARN}


def _listed(*replicas: dict[str, str]) -> dict[str, Any]:
    return {"UserPoolReplicas": [_primary(), *replicas]}


@pytest.fixture
def cognito() -> Iterator[tuple[Any, Stubber, list[str]]]:
    """A stubbed client in the primary region and the regions the provider asked for."""
    client = boto3.client(
        "cognito-idp", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    asked: list[str] = []

    def factory(region: str) -> Any:
        asked.append(region)
        return client

    with Stubber(client) as stubber:
        yield factory, stubber, asked
        stubber.assert_no_pending_responses()


def _provider(factory: Any, sleeps: list[float]) -> UserPoolReplicaProvider:
    return UserPoolReplicaProvider(client=factory, sleep=sleeps.append)


def test_create_asks_the_pools_region_for_a_replica_and_waits_until_it_is_active(cognito):
    factory, stubber, asked = cognito
    stubber.add_response(
        "create_user_pool_replica",
        {"UserPoolReplica": _replica("CREATING")},
        {**WHERE, "UserPoolTags": {"app": "active-active"}},
    )
    stubber.add_response("list_user_pool_replicas", _listed(_replica("CREATING")), {"UserPoolId": POOL})
    stubber.add_response("list_user_pool_replicas", _listed(_replica("ACTIVE")), {"UserPoolId": POOL})
    sleeps: list[float] = []
    result = _provider(factory, sleeps).create(dict(PROPS))
    assert asked == ["us-east-1"]
    assert result.id == f"{POOL}/us-west-2"
    assert result.outs["userPoolArn"] == REPLICA_ARN
    assert result.outs["role"] == "SECONDARY"
    assert sleeps == [POLL_SECONDS]


def test_create_that_ends_inactive_sets_the_replica_to_the_status_asked_for(cognito):
    factory, stubber, _ = cognito
    stubber.add_response("create_user_pool_replica", {"UserPoolReplica": _replica("CREATING")})
    stubber.add_response("list_user_pool_replicas", _listed(_replica("INACTIVE")))
    stubber.add_response(
        "update_user_pool_replica", {"UserPoolReplica": _replica("ACTIVE")}, {**WHERE, "Status": "ACTIVE"}
    )
    stubber.add_response("list_user_pool_replicas", _listed(_replica("ACTIVE")))
    assert _provider(factory, []).create(dict(PROPS)).outs["status"] == "ACTIVE"


def test_create_refused_for_the_lite_plan_raises_cognitos_error(cognito):
    factory, stubber, _ = cognito
    stubber.add_client_error("create_user_pool_replica", "FeatureUnavailableInTierException")
    with pytest.raises(Exception, match="FeatureUnavailableInTierException"):
        _provider(factory, []).create(dict(PROPS))


def test_a_replica_that_never_settles_fails_after_the_wait(cognito):
    factory, stubber, _ = cognito
    stubber.add_response("list_user_pool_replicas", _listed(_replica("CREATING")))
    stubber.add_response("list_user_pool_replicas", _listed(_replica("CREATING")))
    sleeps: list[float] = []
    with pytest.raises(ReplicaNotReady, match="us-west-2"):
        user_pool_replica.wait_for(
            factory("us-east-1"), POOL, "us-west-2", lambda r: False, sleeps.append, 10
        )
    assert sleeps == [POLL_SECONDS, POLL_SECONDS]


@pytest.mark.parametrize("key", ["userPoolId", "regionName", "primaryRegion"])
def test_diff_replaces_the_replica_when_its_pool_or_regions_change(key):
    diff = UserPoolReplicaProvider().diff("id", dict(PROPS), {**PROPS, key: "other"})
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, [key], True)


def test_diff_updates_in_place_when_only_the_status_changes():
    diff = UserPoolReplicaProvider().diff("id", dict(PROPS), {**PROPS, "status": "INACTIVE"})
    assert (diff.changes, diff.replaces) == (True, [])


def test_diff_of_the_same_replica_or_new_tags_changes_nothing():
    provider = UserPoolReplicaProvider()
    assert provider.diff("id", dict(PROPS), dict(PROPS)).changes is False
    assert provider.diff("id", dict(PROPS), {**PROPS, "tags": {"team": "x"}}).changes is False


def test_update_sets_the_status_and_waits_for_it(cognito):
    factory, stubber, _ = cognito
    stubber.add_response(
        "update_user_pool_replica", {"UserPoolReplica": _replica("INACTIVE")}, {**WHERE, "Status": "INACTIVE"}
    )
    stubber.add_response("list_user_pool_replicas", _listed(_replica("INACTIVE")))
    result = _provider(factory, []).update("id", dict(PROPS), {**PROPS, "status": "INACTIVE"})
    assert result.outs["status"] == "INACTIVE"


def test_delete_deactivates_the_replica_first_then_deletes_it_from_the_primary_region(cognito):
    factory, stubber, asked = cognito
    stubber.add_response("list_user_pool_replicas", _listed(_replica("ACTIVE")))
    stubber.add_response(
        "update_user_pool_replica", {"UserPoolReplica": _replica("INACTIVE")}, {**WHERE, "Status": "INACTIVE"}
    )
    stubber.add_response("list_user_pool_replicas", _listed(_replica("INACTIVE")))
    stubber.add_response("delete_user_pool_replica", {"UserPoolReplica": _replica("DELETING")}, WHERE)
    stubber.add_response("list_user_pool_replicas", _listed())
    _provider(factory, []).delete("id", dict(PROPS))
    assert asked == ["us-east-1"]


def test_delete_of_a_replica_already_gone_calls_nothing_else(cognito):
    factory, stubber, _ = cognito
    stubber.add_response("list_user_pool_replicas", _listed())
    _provider(factory, []).delete("id", dict(PROPS))


DESCRIBED = {
    "Id": POOL,
    "Name": "active-active-users",
    "Arn": PRIMARY_ARN,
    "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireSymbols": True}},
    "DeletionProtection": "ACTIVE",
    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
    "UserPoolTier": "ESSENTIALS",
    "IssuerConfiguration": {"Type": "ORIGINAL"},
}
MULTI_REGION = {"kind": "UserPoolMultiRegion", "userPoolId": POOL, "region": "us-east-1", "kmsKeyArn": KEY}


def test_multi_region_setup_keeps_every_setting_and_adds_the_issuer_and_key(cognito):
    factory, stubber, _ = cognito
    stubber.add_response("describe_user_pool", {"UserPool": DESCRIBED}, {"UserPoolId": POOL})
    stubber.add_response(
        "update_user_pool",
        {},
        {
            "UserPoolId": POOL,
            "Policies": DESCRIBED["Policies"],
            "DeletionProtection": "ACTIVE",
            "AdminCreateUserConfig": DESCRIBED["AdminCreateUserConfig"],
            "UserPoolTier": "ESSENTIALS",
            "IssuerConfiguration": {"Type": "UPDATED"},
            "KeyConfiguration": {"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": KEY},
        },
    )
    result = UserPoolMultiRegionProvider(client=factory).create(dict(MULTI_REGION))
    assert result.outs["issuer"] == f"https://issuer-cognito-idp.us-east-1.amazonaws.com/{POOL}"


def test_multi_region_setup_of_a_pool_already_set_up_updates_nothing(cognito):
    factory, stubber, _ = cognito
    done = {
        **DESCRIBED,
        "IssuerConfiguration": {"Type": "UPDATED"},
        "KeyConfiguration": {"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": KEY},
    }
    stubber.add_response("describe_user_pool", {"UserPool": done})
    UserPoolMultiRegionProvider(client=factory).update("id", dict(MULTI_REGION), dict(MULTI_REGION))


def test_multi_region_setup_replaces_only_for_another_pool():
    provider = UserPoolMultiRegionProvider()
    assert provider.diff(
        "id", dict(MULTI_REGION), {**MULTI_REGION, "userPoolId": "us-east-1_Other"}
    ).replaces == ["userPoolId"]
    new_key = provider.diff("id", dict(MULTI_REGION), {**MULTI_REGION, "kmsKeyArn": KEY + "0"})
    assert (new_key.changes, new_key.replaces) == (True, [])


def test_the_multi_region_issuer_names_the_primary_region_and_the_shared_pool_id():
    assert (
        multi_region_issuer("us-east-1", POOL) == f"https://issuer-cognito-idp.us-east-1.amazonaws.com/{POOL}"
    )
