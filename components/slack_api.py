"""The Slack API: a second HTTP API per region for the `/chaos` slash command and Slack's
Events API URL check. No JWT: the function verifies every request's Slack signature.

The Slack secrets live here as SecureString parameters, so they never appear in plain text in
an environment variable or the stack's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import AppFunction, AppFunctionArgs
from components.http_api import HttpApi, HttpApiArgs, Route
from components.settings import FunctionDefaults, Throttle


@dataclass
class SlackApiArgs:
    app: str
    defaults: FunctionDefaults
    throttle: Throttle
    signing_secret: pulumi.Input[str]
    webhook_url: pulumi.Input[str]
    team_ids: Sequence[str]
    primary_region: str
    chaos_parameter_prefix: str
    registry_path: str
    dependencies_layer: pulumi.Input[str]


class SlackApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: SlackApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:api:SlackApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output().partition
        account = aws.get_caller_identity_output().account_id

        self.signing_secret = aws.ssm.Parameter(
            f"{name}-signing-secret",
            name=f"/{args.app}/slack/signing-secret",
            type="SecureString",
            value=args.signing_secret,
            description="Slack app signing secret (verifies slash commands)",
            opts=child,
        )
        self.webhook_url = aws.ssm.Parameter(
            f"{name}-webhook-url",
            name=f"/{args.app}/slack/webhook-url",
            type="SecureString",
            value=args.webhook_url,
            description="Slack incoming webhook for alerts",
            opts=child,
        )
        # Operators fail and recover any region from any region's Slack API.
        chaos_any_region = pulumi.Output.concat(
            "arn:", partition, ":ssm:*:", account, ":parameter", args.chaos_parameter_prefix, "/*"
        )
        registry = pulumi.Output.concat(
            "arn:", partition, ":ssm:", args.primary_region, ":", account, ":parameter", args.registry_path
        )
        self.function = AppFunction(
            f"{name}-commands",
            AppFunctionArgs(
                source="slack_commands",
                description="Slack /chaos commands: status, fail, recover, errors",
                defaults=args.defaults,
                app=args.app,
                timeout=10,
                extra_layers=[args.dependencies_layer],
                environment={
                    "SLACK_SIGNING_SECRET_PARAMETER": self.signing_secret.name,
                    "ALLOWED_TEAM_IDS": ",".join(args.team_ids),
                    "CHAOS_PARAMETER_PREFIX": args.chaos_parameter_prefix,
                    "REGISTRY_PATH": args.registry_path,
                    "PRIMARY_REGION": args.primary_region,
                },
                statements=[
                    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": self.signing_secret.arn},
                    {
                        "Effect": "Allow",
                        "Action": ["ssm:GetParameter", "ssm:PutParameter"],
                        "Resource": chaos_any_region,
                    },
                    {"Effect": "Allow", "Action": "ssm:GetParametersByPath", "Resource": registry},
                ],
            ),
            child,
        )
        self.api = HttpApi(
            f"{name}-http",
            HttpApiArgs(
                description=f"{args.app} Slack commands",
                throttle=args.throttle,
                log_retention_days=args.defaults.log_retention_days,
                routes=[
                    Route("POST /slack/commands", self.function),
                    Route("POST /slack/events", self.function),
                ],
            ),
            child,
        )
        self.url = self.api.url
        self.register_outputs({"url": self.url})
