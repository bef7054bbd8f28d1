"""Cognito, in the primary region: the user pool, the web app's client and the demo user.

With replication (``userPoolReplication``, the default) the pool is set up for Cognito's
multi-Region replication (``components.user_pool_replica``): every secondary stack adds a replica
in its region, each region's login signs in there, and every authorizer trusts the one
multi-Region issuer. Without it, every region's authorizer trusts this pool's own issuer; while
the primary region's Cognito is down nobody can log in, and tokens already issued keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import key_administrators
from components.settings import PASSWORD_MIN_LENGTH
from components.user_pool_replica import UserPoolMultiRegion, multi_region_issuer


@dataclass
class AuthArgs:
    deletion_protection: bool
    demo_username: str
    demo_password: pulumi.Input[str] | None
    app: str = "active-active"
    region: str = "us-east-1"
    replication: bool = True


class Auth(pulumi.ComponentResource):
    def __init__(self, name: str, args: AuthArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:auth:Auth", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        pool = aws.cognito.UserPool(
            f"{name}-users",
            password_policy={
                "minimum_length": PASSWORD_MIN_LENGTH,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "temporary_password_validity_days": 1,
                "password_history_size": 5,
            },
            # Demo users are created by operators, never by sign-up.
            admin_create_user_config={"allow_admin_create_user_only": True},
            account_recovery_setting={"recovery_mechanisms": [{"name": "admin_only", "priority": 1}]},
            username_configuration={"case_sensitive": False},
            deletion_protection="ACTIVE" if args.deletion_protection else "INACTIVE",
            # Multi-Region replication "requires your user pool to be on the Essentials or Plus
            # feature plan" (user-pool-multi-region.html); Essentials, the cheaper of the two.
            user_pool_tier="ESSENTIALS" if args.replication else None,
            opts=child,
        )
        client = aws.cognito.UserPoolClient(
            f"{name}-web",
            user_pool_id=pool.id,
            generate_secret=False,
            explicit_auth_flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            # The same answer for unknown users and wrong passwords: no user enumeration.
            prevent_user_existence_errors="ENABLED",
            id_token_validity=60,
            access_token_validity=60,
            refresh_token_validity=1,
            token_validity_units={"id_token": "minutes", "access_token": "minutes", "refresh_token": "days"},
            enable_token_revocation=True,
            opts=child,
        )
        if args.demo_password is not None:
            aws.cognito.User(
                f"{name}-demo-user",
                user_pool_id=pool.id,
                username=args.demo_username,
                password=args.demo_password,
                message_action="SUPPRESS",
                opts=child,
            )
        self.multi_region: UserPoolMultiRegion | None = None
        if args.replication:
            # A multi-Region key: "You must use a multi-region key to enable multi-region
            # replication for a user pool" (KeyConfigurationType, Cognito API reference).
            key = aws.kms.Key(
                f"{name}-users-key",
                description=f"{args.app} user pool (multi-Region, for Cognito replication)",
                multi_region=True,
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=pulumi.Output.json_dumps(
                    {"Version": "2012-10-17", "Statement": [key_administrators()]}
                ),
                opts=child,
            )
            aws.kms.Alias(
                f"{name}-users-key-alias",
                name=f"alias/{args.app}-user-pool",
                target_key_id=key.key_id,
                opts=child,
            )
            self.multi_region = UserPoolMultiRegion(
                f"{name}-multi-region",
                user_pool_id=pool.id,
                region=args.region,
                kms_key_arn=key.arn,
                opts=child,
            )
        self.user_pool_id = pool.id
        self.user_pool_arn = pool.arn
        self.client_id = client.id
        self.register_outputs({"userPoolId": self.user_pool_id, "clientId": self.client_id})


def issuer_url(
    region: str, user_pool_id: pulumi.Input[str], multi_region: bool = False
) -> pulumi.Output[str]:
    """The JWT issuer of a Cognito user pool in `region` (its primary region): the multi-Region
    issuer, the same in every replica, when it is replicated; else the pool's own."""
    if multi_region:
        return pulumi.Output.from_input(user_pool_id).apply(
            lambda pool_id: multi_region_issuer(region, pool_id)
        )
    return pulumi.Output.concat("https://cognito-idp.", region, ".amazonaws.com/", user_pool_id)
