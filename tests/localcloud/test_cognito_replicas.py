"""The local cloud's Cognito multi-Region replication (localcloud.cognito) on moto in-process:
AWS's prerequisites refused as AWS refuses them, the replica's users and tokens, deletion only
from the primary."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.cognitoidp import models, responses

from localcloud import cognito

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
PASSWORD = "Str0ng-Passw0rd!"
KEY = "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef"


@pytest.fixture
def idp(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Both regions' Cognito clients on moto with the replica operations installed (and
    uninstalled afterwards)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setattr(models.CognitoIdpUserPool, "create_jwt", models.CognitoIdpUserPool.create_jwt)
    for operation in ("create", "list", "update", "delete"):
        name = f"{operation}_user_pool_replica" if operation != "list" else "list_user_pool_replicas"
        monkeypatch.setattr(responses.CognitoIdpResponse, name, None, raising=False)
    cognito.install()
    with mock_aws():
        yield {region: boto3.client("cognito-idp", region_name=region) for region in (PRIMARY, SECONDARY)}


def _pool(client: Any, ready: bool = True) -> tuple[str, str]:
    tier = {"UserPoolTier": "ESSENTIALS"} if ready else {}
    pool_id = client.create_user_pool(PoolName="users", **tier)["UserPool"]["Id"]
    if ready:
        client.update_user_pool(
            UserPoolId=pool_id,
            UserPoolTier="ESSENTIALS",
            IssuerConfiguration={"Type": "UPDATED"},
            KeyConfiguration={"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": KEY},
        )
    app = client.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )
    return pool_id, app["UserPoolClient"]["ClientId"]


def _user(client: Any, pool_id: str, name: str) -> None:
    client.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
    client.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True)


def test_a_pool_on_the_lite_plan_gets_no_replica(idp):
    pool_id, _ = _pool(idp[PRIMARY], ready=False)
    with pytest.raises(ClientError) as caught:
        idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert caught.value.response["Error"]["Code"] == "FeatureUnavailableInTierException"


def test_a_pool_without_the_multi_region_issuer_gets_no_replica(idp):
    pool_id = idp[PRIMARY].create_user_pool(PoolName="users", UserPoolTier="ESSENTIALS")["UserPool"]["Id"]
    with pytest.raises(ClientError) as caught:
        idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"


def test_the_replica_has_the_pools_id_and_every_user_made_before_or_after_it(idp):
    pool_id, _ = _pool(idp[PRIMARY])
    _user(idp[PRIMARY], pool_id, "before")
    created = idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    _user(idp[PRIMARY], pool_id, "after")
    assert created["UserPoolReplica"]["UserPoolArn"].split(":")[3] == SECONDARY
    described = idp[SECONDARY].describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["Id"] == pool_id
    users = {user["Username"] for user in idp[SECONDARY].list_users(UserPoolId=pool_id)["Users"]}
    assert users == {"before", "after"}
    listed = idp[PRIMARY].list_user_pool_replicas(UserPoolId=pool_id)["UserPoolReplicas"]
    assert [(r["RegionName"], r["Role"]) for r in listed] == [(PRIMARY, "PRIMARY"), (SECONDARY, "SECONDARY")]


def test_tokens_of_a_replicated_pool_carry_the_multi_region_issuer(idp):
    pool_id, client_id = _pool(idp[PRIMARY])
    idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    _user(idp[PRIMARY], pool_id, "someone")
    result = idp[SECONDARY].initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "someone", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    for token in (result["IdToken"], result["AccessToken"]):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["iss"] == f"https://issuer-cognito-idp.{PRIMARY}.amazonaws.com/{pool_id}"


def test_a_pool_that_is_not_replicated_keeps_its_own_issuer(idp):
    pool_id, client_id = _pool(idp[PRIMARY], ready=False)
    _user(idp[PRIMARY], pool_id, "someone")
    token = idp[PRIMARY].initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "someone", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == (
        f"https://cognito-idp.{PRIMARY}.amazonaws.com/{pool_id}"
    )


def test_a_replica_is_deleted_only_once_inactive_and_only_from_the_primary_region(idp):
    pool_id, _ = _pool(idp[PRIMARY])
    idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    with pytest.raises(ClientError) as active:
        idp[PRIMARY].delete_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert active.value.response["Error"]["Code"] == "InvalidParameterException"
    idp[SECONDARY].update_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY, Status="INACTIVE")
    listed = idp[PRIMARY].list_user_pool_replicas(UserPoolId=pool_id)["UserPoolReplicas"]
    assert [r["Status"] for r in listed if r["RegionName"] == SECONDARY] == ["INACTIVE"]
    with pytest.raises(ClientError) as caught:
        idp[SECONDARY].delete_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    idp[PRIMARY].delete_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    with pytest.raises(ClientError) as gone:
        idp[SECONDARY].describe_user_pool(UserPoolId=pool_id)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_pool_gets_one_secondary_replica_only_as_aws_documents(idp):
    # "You can have at most one secondary replica in an additional Region per user directory."
    pool_id, _ = _pool(idp[PRIMARY])
    idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName=SECONDARY)
    with pytest.raises(ClientError) as caught:
        idp[PRIMARY].create_user_pool_replica(UserPoolId=pool_id, RegionName="eu-west-1")
    assert caught.value.response["Error"]["Code"] == "LimitExceededException"
    assert "its one secondary replica, in us-west-2" in caught.value.response["Error"]["Message"]
    listed = idp[PRIMARY].list_user_pool_replicas(UserPoolId=pool_id)["UserPoolReplicas"]
    assert [r["RegionName"] for r in listed] == [PRIMARY, SECONDARY]
