"""Cognito, in the primary region only: the user pool, the web app's client and the demo user.

Every region's JWT authorizer trusts this pool. A documented limit: while the primary region's
Cognito is down, nobody can log in; tokens already issued keep working in every region.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings import PASSWORD_MIN_LENGTH


@dataclass
class AuthArgs:
    deletion_protection: bool
    demo_username: str
    demo_password: pulumi.Input[str] | None


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
        self.user_pool_id = pool.id
        self.user_pool_arn = pool.arn
        self.client_id = client.id
        self.register_outputs({"userPoolId": self.user_pool_id, "clientId": self.client_id})


def issuer_url(region: str, user_pool_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """The JWT issuer of a Cognito user pool."""
    return pulumi.Output.concat("https://cognito-idp.", region, ".amazonaws.com/", user_pool_id)
