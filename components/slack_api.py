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
from components.iam import key_administrators
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
    registry_arns: Sequence[pulumi.Input[str]]  # the primary's registry, and this region's copy
    drill_parameter_prefix: str
    dependencies_layer: pulumi.Input[str]


class SlackApi(pulumi.ComponentResource):
    def __init__(self, name: str, args: SlackApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:api:SlackApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output().partition
        account = aws.get_caller_identity_output().account_id

        # A customer managed key, not aws/ssm: the AWS managed key lets every principal in the
        # account decrypt; this one only the roles whose IAM policy names it.
        self.secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"{args.app} Slack secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [key_administrators()],
                }
            ),
            opts=child,
        )
        # Alias names are unique per account and Region, so every region's stack can use the same one.
        # https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
        aws.kms.Alias(
            f"{name}-secrets-key-alias",
            name=f"alias/{args.app}-slack-secrets",
            target_key_id=self.secrets_key.key_id,
            opts=child,
        )
        self.secrets_key_arn = self.secrets_key.arn
        self.signing_secret = aws.ssm.Parameter(
            f"{name}-signing-secret",
            name=f"/{args.app}/slack/signing-secret",
            type="SecureString",
            key_id=self.secrets_key.key_id,
            value=args.signing_secret,
            description="Slack app signing secret (verifies slash commands)",
            opts=child,
        )
        self.webhook_url = aws.ssm.Parameter(
            f"{name}-webhook-url",
            name=f"/{args.app}/slack/webhook-url",
            type="SecureString",
            key_id=self.secrets_key.key_id,
            value=args.webhook_url,
            description="Slack incoming webhook for alerts",
            opts=child,
        )
        # Operators fail and recover any region from any region's Slack API.
        chaos_any_region = pulumi.Output.concat(
            "arn:", partition, ":ssm:*:", account, ":parameter", args.chaos_parameter_prefix, "/*"
        )
        # `/chaos drill` starts any region's drill from any region's Slack API: the template ids are
        # in each region's parameter, the experiments in each region's FIS.
        drill_any_region = pulumi.Output.concat(
            "arn:", partition, ":ssm:*:", account, ":parameter", args.drill_parameter_prefix, "/*"
        )
        fis_any_region = pulumi.Output.concat("arn:", partition, ":fis:*:", account, ":")
        self.function = AppFunction(
            f"{name}-commands",
            AppFunctionArgs(
                source="slack_commands",
                description="Slack /chaos commands: status, fail, recover, errors, drill",
                defaults=args.defaults,
                app=args.app,
                timeout=10,
                extra_layers=[args.dependencies_layer],
                # Slack gives a slash command 3 s to answer, cold starts included.
                snap_start=True,
                environment={
                    "SLACK_SIGNING_SECRET_PARAMETER": self.signing_secret.name,
                    "ALLOWED_TEAM_IDS": ",".join(args.team_ids),
                    "CHAOS_PARAMETER_PREFIX": args.chaos_parameter_prefix,
                    "REGISTRY_PATH": args.registry_path,
                    "PRIMARY_REGION": args.primary_region,
                    "DRILL_PARAMETER_PREFIX": args.drill_parameter_prefix,
                },
                statements=[
                    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": self.signing_secret.arn},
                    decrypt_secrets(self.secrets_key_arn),
                    # A region's state is read with its drill templates, in one GetParameters: an
                    # action of its own, allowed on every parameter it names (ssm:GetParameter
                    # does not allow it: https://github.com/kayac/ecspresso/issues/677).
                    {
                        "Effect": "Allow",
                        "Action": ["ssm:GetParameters", "ssm:PutParameter"],
                        "Resource": chaos_any_region,
                    },
                    {"Effect": "Allow", "Action": "ssm:GetParametersByPath", "Resource": args.registry_arns},
                    {
                        "Sid": "DrillTemplates",
                        "Effect": "Allow",
                        "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                        "Resource": drill_any_region,
                    },
                    {
                        # StartExperiment authorizes the template and the experiment it creates; it takes
                        # no role, so no iam:PassRole (that is CreateExperimentTemplate's):
                        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_fis.html
                        # Only this app's templates: the stack provider tags each with the app.
                        "Sid": "StartDrillTemplates",
                        "Effect": "Allow",
                        "Action": "fis:StartExperiment",
                        "Resource": pulumi.Output.concat(fis_any_region, "experiment-template/*"),
                        "Condition": {"StringEquals": {"aws:ResourceTag/app": args.app}},
                    },
                    {
                        # The experiment does not exist yet, so it has no tags to match.
                        "Sid": "StartDrillExperiments",
                        "Effect": "Allow",
                        "Action": "fis:StartExperiment",
                        "Resource": pulumi.Output.concat(fis_any_region, "experiment/*"),
                    },
                    {
                        # ListExperiments names no resource type: AWS requires "*" here.
                        "Sid": "DrillStatus",
                        "Effect": "Allow",
                        "Action": "fis:ListExperiments",
                        "Resource": "*",
                    },
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


def decrypt_secrets(key_arn: pulumi.Input[str]) -> dict:
    """Lets a role decrypt the Slack secrets, and only through SSM in its own region. Every reader
    of a SecureString needs it besides ssm:GetParameter."""
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-restrict-decryption.html
    return {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key_arn,
        "Condition": {
            "StringEquals": {
                "kms:ViaService": pulumi.Output.concat(
                    "ssm.", aws.get_region_output().region, ".amazonaws.com"
                )
            }
        },
    }
