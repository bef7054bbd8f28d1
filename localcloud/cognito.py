"""Cognito multi-Region replication for moto, which has none: installed in moto's server process.

A replica is a user pool object in the secondary region's backend under the primary's id (as
AWS documents: "separate user pools with a shared user pool ID"). It shares the primary's users,
passwords and app clients by reference, so a user created later (the demo user) is there at
once; AWS replicates asynchronously. Being a pool of its region's backend, it is down when its
region is. Tokens of a pool set to the multi-Region ("UPDATED") issuer carry
``https://issuer-cognito-idp.<primary region>.amazonaws.com/<pool id>`` from either region.

What AWS requires of the pool (user-pool-multi-region.html) is checked as AWS would refuse it:
the Essentials or Plus feature plan, the multi-Region issuer and a customer managed key.
https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-multi-region.html
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from moto.cognitoidp import models, responses
from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult


class LimitExceededException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


class FeatureUnavailableInTierException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("FeatureUnavailableInTierException", message)


def issuer(pool: Any) -> str | None:
    """The multi-Region issuer of a pool set to it; None for the pool's own (moto's)."""
    if (pool.extended_config.get("IssuerConfiguration") or {}).get("Type") != "UPDATED":
        return None
    primary = pool.id.split("_", 1)[0]
    return f"https://issuer-cognito-idp.{primary}.amazonaws.com/{pool.id}"


def _replicas(pool: Any) -> dict[str, Any]:
    """The primary pool's replicas by region: created on first use."""
    if not hasattr(pool, "local_replicas"):
        pool.local_replicas = {}
    return pool.local_replicas


def _description(region: str, pool: Any, role: str) -> dict[str, str]:
    status = getattr(pool, "replica_status", "ACTIVE")
    return {"RegionName": region, "Status": status, "Role": role, "UserPoolArn": pool.arn}


def _primary(response: Any) -> Any:
    pool = response.backend.describe_user_pool(response._get_param("UserPoolId"))
    if getattr(pool, "replica_of", None) is not None:
        raise InvalidParameterException("This operation must be called from the primary Region.")
    return pool


def create_user_pool_replica(self: Any) -> ActionResult:
    pool = _primary(self)
    region = self._get_param("RegionName")
    config = pool.extended_config
    if config.get("UserPoolTier") not in ("ESSENTIALS", "PLUS"):
        raise FeatureUnavailableInTierException("Multi-Region replication needs the Essentials or Plus plan.")
    if issuer(pool) is None:
        raise InvalidParameterException("Multi-Region replication needs the UPDATED issuer configuration.")
    if (config.get("KeyConfiguration") or {}).get("KeyType") != "CUSTOMER_MANAGED_KEY":
        raise InvalidParameterException("Multi-Region replication needs a multi-Region customer managed key.")
    if region == pool.region or region in _replicas(pool):
        raise InvalidParameterException(f"The user pool already has a replica in {region}.")
    if _replicas(pool):
        # "You can have at most one secondary replica in an additional Region per user directory"
        # (user-pool-multi-region.html, Limitations). AWS does not document the error: this one is
        # CreateUserPoolReplica's for a limit.
        raise LimitExceededException(
            f"The user pool already has its one secondary replica, in {', '.join(_replicas(pool))}."
        )
    replica = copy.copy(pool)  # shallow: users, clients and groups are the primary's own dicts
    replica.region = region
    replica.arn = pool.arn.replace(f":{pool.region}:", f":{region}:", 1)
    replica.replica_of = pool
    replica.local_replicas = {}
    models.cognitoidp_backends[pool.account_id][region].user_pools[pool.id] = replica
    _replicas(pool)[region] = replica
    return ActionResult({"UserPoolReplica": _description(region, replica, "SECONDARY")})


def list_user_pool_replicas(self: Any) -> ActionResult:
    pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
    primary = getattr(pool, "replica_of", None) or pool
    listed = [_description(primary.region, primary, "PRIMARY")]
    listed += [_description(region, replica, "SECONDARY") for region, replica in _replicas(primary).items()]
    return ActionResult({"UserPoolReplicas": listed})


def update_user_pool_replica(self: Any) -> ActionResult:
    pool = self.backend.describe_user_pool(self._get_param("UserPoolId"))
    primary = getattr(pool, "replica_of", None) or pool
    region = self._get_param("RegionName")
    replica = _replicas(primary).get(region)
    if replica is None:
        raise ResourceNotFoundError(f"User pool {primary.id} has no replica in {region}.")
    # Recorded for ListUserPoolReplicas and DeleteUserPoolReplica; an INACTIVE replica still
    # answers its region's sign-ins here, where AWS stops serving end users.
    replica.replica_status = self._get_param("Status")
    return ActionResult({"UserPoolReplica": _description(region, replica, "SECONDARY")})


def delete_user_pool_replica(self: Any) -> ActionResult:
    pool = _primary(self)
    region = self._get_param("RegionName")
    replica = _replicas(pool).get(region)
    if replica is None:
        raise ResourceNotFoundError(f"User pool {pool.id} has no replica in {region}.")
    if getattr(replica, "replica_status", "ACTIVE") != "INACTIVE":
        raise InvalidParameterException("You can only delete replicas that are in the INACTIVE status.")
    del _replicas(pool)[region]
    del models.cognitoidp_backends[pool.account_id][region].user_pools[pool.id]
    return ActionResult({"UserPoolReplica": _description(region, replica, "SECONDARY")})


def install() -> None:
    """Adds the replica operations to moto's Cognito and the multi-Region issuer to its tokens."""
    for operation in (
        create_user_pool_replica,
        list_user_pool_replicas,
        update_user_pool_replica,
        delete_user_pool_replica,
    ):
        setattr(responses.CognitoIdpResponse, operation.__name__, operation)
    original = models.CognitoIdpUserPool.create_jwt

    @functools.wraps(original)
    def create_jwt(
        self: Any, client_id: str, username: str, token_use: str, *args: Any, **kwargs: Any
    ) -> Any:
        multi_region = issuer(self)
        if multi_region is not None:
            # moto applies extra_data over its payload, its own "iss" included.
            if len(args) >= 2:
                args = (args[0], {**(args[1] or {}), "iss": multi_region}, *args[2:])
            else:
                kwargs["extra_data"] = {**(kwargs.get("extra_data") or {}), "iss": multi_region}
        return original(self, client_id, username, token_use, *args, **kwargs)

    models.CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]
