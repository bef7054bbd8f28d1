"""Cognito multi-Region replication as Pulumi dynamic resources: pulumi-aws has no resource for it.

Two resources, each calling the Cognito API in the user pool's (primary) region with botocore
(already a deployment requirement; boto3 would add only its resource layer):
- ``UserPoolMultiRegion`` (primary stack): the pool's prerequisites that pulumi-aws cannot set,
  the multi-Region issuer and a multi-Region customer managed key.
- ``UserPoolReplica`` (each secondary stack): the pool's replica in that stack's region, so adding
  a region stays one new stack file.

What AWS documents (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-multi-region.html):
the pool must be on the Essentials or Plus feature plan, encrypted with a multi-Region customer
managed key (KeyConfigurationType: "You must use a multi-region key to enable multi-region
replication"), and issue tokens with the multi-Region ("UPDATED") issuer; a replica shares the
pool's id; DeleteUserPoolReplica deletes only an INACTIVE replica and "must be called from the
primary Region" (botocore's cognito-idp service model).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.session
import pulumi
import pulumi.dynamic

# How long a replica may take to leave CREATING or DELETING, or to become INACTIVE.
WAIT_SECONDS, POLL_SECONDS = 600.0, 5.0
# A replica names its pool and region for good: CloudFormation's AWS::Cognito::UserPoolReplica
# replaces on each (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpoolreplica.html).
REPLACE_ON = ("userPoolId", "regionName", "primaryRegion")
MULTI_REGION_ISSUER = {"Type": "UPDATED"}


def cognito(region: str) -> Any:
    """A Cognito client in `region`, with the credentials that run pulumi: each call of a provider
    makes its own (the engine runs it in a process of its own)."""
    return botocore.session.get_session().create_client("cognito-idp", region_name=region)


class ReplicaNotReady(Exception):
    """The replica did not reach the status asked for in time."""


def replica_status(client: Any, pool_id: str, region: str) -> dict[str, Any] | None:
    """The replica of `pool_id` in `region` as ListUserPoolReplicas gives it, or None."""
    token = None
    while True:
        page = client.list_user_pool_replicas(UserPoolId=pool_id, **({"NextToken": token} if token else {}))
        for replica in page.get("UserPoolReplicas", []):
            if replica["RegionName"] == region:
                return dict(replica)
        token = page.get("NextToken")
        if not token:
            return None


def wait_for(
    client: Any,
    pool_id: str,
    region: str,
    done: Callable[[dict[str, Any] | None], bool],
    sleep: Callable[[float], None] = time.sleep,
    seconds: float = WAIT_SECONDS,
) -> dict[str, Any] | None:
    """Polls ListUserPoolReplicas until `done` holds for the replica, within `seconds`."""
    for _ in range(max(1, int(seconds / POLL_SECONDS))):
        replica = replica_status(client, pool_id, region)
        if done(replica):
            return replica
        sleep(POLL_SECONDS)
    raise ReplicaNotReady(f"the replica of {pool_id} in {region} did not settle within {seconds:.0f} s")


def _settled(replica: dict[str, Any] | None) -> bool:
    return replica is not None and replica["Status"] not in ("CREATING", "DELETING")


class UserPoolReplicaProvider(pulumi.dynamic.ResourceProvider):
    """Inputs: userPoolId, primaryRegion, regionName, status (ACTIVE or INACTIVE), tags.
    Outputs: the inputs and userPoolArn, role."""

    def __init__(
        self, client: Callable[[str], Any] = cognito, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.sleep = sleep

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        client = self.client(props["primaryRegion"])
        pool_id, region = props["userPoolId"], props["regionName"]
        client.create_user_pool_replica(
            UserPoolId=pool_id, RegionName=region, UserPoolTags=dict(props.get("tags") or {})
        )
        replica = wait_for(client, pool_id, region, _settled, self.sleep)
        assert replica is not None  # _settled holds
        if replica["Status"] != props["status"]:
            replica = self._set_status(client, pool_id, region, props["status"])
        return pulumi.dynamic.CreateResult(f"{pool_id}/{region}", self._outputs(props, replica))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in REPLACE_ON if olds.get(key) != news.get(key)]
        changes = bool(replaces) or olds.get("status") != news.get("status")
        # Tags are set at creation only (CloudFormation's UserPoolTagsAtCreate); a change is not
        # worth replacing the replica for.
        return pulumi.dynamic.DiffResult(changes=changes, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        client = self.client(news["primaryRegion"])
        replica = self._set_status(client, news["userPoolId"], news["regionName"], news["status"])
        return pulumi.dynamic.UpdateResult(self._outputs(news, replica))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # From the primary Region, and only once INACTIVE (DeleteUserPoolReplica).
        client = self.client(props["primaryRegion"])
        pool_id, region = props["userPoolId"], props["regionName"]
        replica = replica_status(client, pool_id, region)
        if replica is None:
            return
        if replica["Status"] != "INACTIVE":
            self._set_status(client, pool_id, region, "INACTIVE")
        client.delete_user_pool_replica(UserPoolId=pool_id, RegionName=region)
        wait_for(client, pool_id, region, lambda gone: gone is None, self.sleep)

    def _set_status(self, client: Any, pool_id: str, region: str, status: str) -> dict[str, Any]:
        client.update_user_pool_replica(UserPoolId=pool_id, RegionName=region, Status=status)
        replica = wait_for(
            client, pool_id, region, lambda r: r is not None and r["Status"] == status, self.sleep
        )
        assert replica is not None
        return replica

    @staticmethod
    def _outputs(props: dict[str, Any], replica: dict[str, Any]) -> dict[str, Any]:
        return {
            **props,
            "userPoolArn": replica.get("UserPoolArn", ""),
            "role": replica.get("Role", "SECONDARY"),
        }


def update_request(client: Any, described: dict[str, Any]) -> dict[str, Any]:
    """An UpdateUserPool request that keeps every setting DescribeUserPool gave: "If you don't
    provide a value for an attribute, Amazon Cognito sets it to its default value" (UpdateUserPool)."""
    members = client.meta.service_model.operation_model("UpdateUserPool").input_shape.members
    request = {key: value for key, value in described.items() if key in members}
    request["UserPoolId"] = described["Id"]
    return request


class UserPoolMultiRegionProvider(pulumi.dynamic.ResourceProvider):
    """Inputs: userPoolId, region, kmsKeyArn. Sets the pool's multi-Region issuer and key."""

    def __init__(self, client: Callable[[str], Any] = cognito) -> None:
        self.client = client

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        self._apply(props)
        return pulumi.dynamic.CreateResult(props["userPoolId"], self._outputs(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = ["userPoolId"] if olds.get("userPoolId") != news.get("userPoolId") else []
        changes = bool(replaces) or any(olds.get(key) != news.get(key) for key in ("region", "kmsKeyArn"))
        return pulumi.dynamic.DiffResult(changes=changes, replaces=replaces)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        self._apply(news)
        return pulumi.dynamic.UpdateResult(self._outputs(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # The pool keeps its issuer and key: turning them back could strand tokens and data the
        # replica holds, and AWS does not document going back. Deleting the pool removes both.
        return None

    def _apply(self, props: dict[str, Any]) -> None:
        client = self.client(props["region"])
        pool = client.describe_user_pool(UserPoolId=props["userPoolId"])["UserPool"]
        key = {"KeyType": "CUSTOMER_MANAGED_KEY", "KmsKeyArn": props["kmsKeyArn"]}
        if pool.get("IssuerConfiguration") == MULTI_REGION_ISSUER and pool.get("KeyConfiguration") == key:
            return
        request = update_request(client, pool)
        client.update_user_pool(
            **{**request, "IssuerConfiguration": MULTI_REGION_ISSUER, "KeyConfiguration": key}
        )

    @staticmethod
    def _outputs(props: dict[str, Any]) -> dict[str, Any]:
        return {**props, "issuer": multi_region_issuer(props["region"], props["userPoolId"])}


def multi_region_issuer(primary_region: str, user_pool_id: str) -> str:
    """The "UPDATED" issuer: ``https://issuer-cognito-idp.<primary region>.amazonaws.com/<pool id>``
    (IssuerConfigurationType in botocore's cognito-idp service model), the same in every replica."""
    return f"https://issuer-cognito-idp.{primary_region}.amazonaws.com/{user_pool_id}"


class UserPoolReplica(pulumi.dynamic.Resource):
    user_pool_arn: pulumi.Output[str]
    role: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        user_pool_id: pulumi.Input[str],
        primary_region: str,
        region: str,
        tags: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            UserPoolReplicaProvider(),
            name,
            {
                "kind": "UserPoolReplica",
                "userPoolId": user_pool_id,
                "primaryRegion": primary_region,
                "regionName": region,
                "status": "ACTIVE",
                "tags": tags or {},
                "userPoolArn": None,
                "role": None,
            },
            opts,
        )


class UserPoolMultiRegion(pulumi.dynamic.Resource):
    issuer: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        user_pool_id: pulumi.Input[str],
        region: str,
        kms_key_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            UserPoolMultiRegionProvider(),
            name,
            {
                "kind": "UserPoolMultiRegion",
                "userPoolId": user_pool_id,
                "region": region,
                "kmsKeyArn": kms_key_arn,
                "issuer": None,
            },
            opts,
        )
