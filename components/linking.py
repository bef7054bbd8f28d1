"""How stacks find each other: SSM parameters only, never stack references or exports.

None of these values is secret, so they are set as ``insecure_value`` and stay readable in
previews and diffs.

- The primary stack publishes the global pieces (Cognito ids, the table) under
  ``/<app>/global/...`` in the primary region; secondary stacks look them up.
- Every stack registers its public endpoints at ``/<app>/regions/<region>`` in the primary
  region, where the `/config` endpoint and the Slack commands find every deployed region.
- A secondary stack also keeps a copy of the registry in its own region: its own entry and the
  primary's (read when it deploys), under the same path. The functions read it when the primary
  region does not answer, so `/config`, the page and `/chaos status` work through the primary's
  outage.
- A secondary also writes its own entry into every other secondary's copy (in that region), so a
  region added later appears in the copies of those deployed before it without deploying them
  again. Each parameter has one owner whatever the order of deployments: an entry is written by
  its own region's stack, except the primary's entry in a copy, which that copy's stack reads from
  the registry when it deploys. A new region's own copy lacks the secondaries deployed before it
  until they deploy again (README, Known limits).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings import ConfigError, Settings

GLOBAL_KEYS = ("user-pool-id", "user-pool-client-id", "table-name", "table-arn")
# A failed invoke arrives as a plain Exception carrying the provider's text: the AWS error code in
# it is all that tells a missing parameter from a refused, expired or throttled look-up.
# https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html
LOOKUP_FAILURES = (
    (
        ("AccessDenied", "UnauthorizedOperation", "not authorized"),
        "could not be read: access was denied",
        "allow ssm:GetParameter on it for the credentials that run pulumi",
    ),
    (
        ("ExpiredToken", "security token included in the request is expired"),
        "could not be read: the AWS credentials have expired",
        "refresh the credentials (aws sso login, or new keys) and run pulumi again",
    ),
    (
        ("Throttling", "TooManyRequests", "Rate exceeded"),
        "could not be read: SSM throttled the look-up",
        "run pulumi again in a minute",
    ),
)
AWS_ERROR_CODE = re.compile(r"\b([A-Z][A-Za-z]+(?:Exception|Error|NotFound|Denied|Expired|Token))\b")


@dataclass
class GlobalPieces:
    user_pool_id: pulumi.Input[str]
    client_id: pulumi.Input[str]
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]


def lookup_global(settings: Settings) -> GlobalPieces:
    """The primary stack's global pieces, or a clear error if it was never deployed."""
    values = {}
    for key in GLOBAL_KEYS:
        name = settings.parameter("global", key)
        try:
            values[key] = aws.ssm.get_parameter(name=name, region=settings.primary_region).value
        except Exception as error:  # noqa: BLE001 - a failed invoke arrives as a plain Exception
            raise _lookup_failure(name, settings.primary_region, str(error)) from None
    return GlobalPieces(
        user_pool_id=values["user-pool-id"],
        client_id=values["user-pool-client-id"],
        table_name=values["table-name"],
        table_arn=values["table-arn"],
    )


def _lookup_failure(name: str, region: str, error: str) -> ConfigError:
    """One line naming the parameter, what went wrong and the fix; never a stack trace."""
    where = f"SSM parameter {name} in {region}"
    code = AWS_ERROR_CODE.search(error)
    detail = f" ({code.group(1)})" if code else ""
    for signs, problem, fix in LOOKUP_FAILURES:
        if any(sign.lower() in error.lower() for sign in signs):
            return ConfigError(f"{where} {problem}{detail}. Fix: {fix}")
    if "ParameterNotFound" in error or "not found" in error.lower():
        return ConfigError(
            f"{where} was not found: deploy the primary region first: "
            f"pulumi stack select {region} && pulumi up"
        )
    summary = " ".join(error.split())[:300]
    return ConfigError(f"{where} could not be read ({summary}). Fix: check the credentials that run pulumi")


@dataclass
class LinkingArgs:
    settings: Settings
    user_api_url: pulumi.Input[str]
    slack_api_url: pulumi.Input[str]
    # Only the primary stack publishes the global pieces.
    global_pieces: GlobalPieces | None = None


class Linking(pulumi.ComponentResource):
    def __init__(self, name: str, args: LinkingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:linking:Linking", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        if args.global_pieces is not None:
            pieces = args.global_pieces
            for key, value in zip(
                GLOBAL_KEYS,
                (pieces.user_pool_id, pieces.client_id, pieces.table_name, pieces.table_arn),
                strict=True,
            ):
                aws.ssm.Parameter(
                    f"{name}-global-{key}",
                    name=settings.parameter("global", key),
                    type="String",
                    insecure_value=value,
                    description=f"Published by the primary stack for secondary stacks: {key}",
                    opts=child,
                )
        endpoints = pulumi.Output.all(api=args.user_api_url, slackApi=args.slack_api_url).apply(
            lambda resolved: json.dumps(resolved, sort_keys=True)
        )
        self.registration = aws.ssm.Parameter(
            f"{name}-region",
            name=settings.parameter("regions", settings.region),
            type="String",
            insecure_value=endpoints,
            region=settings.primary_region,
            description=f"Public endpoints of {settings.region}",
            opts=child,
        )
        if not settings.is_primary:
            primary = settings.parameter("regions", settings.primary_region)
            try:
                primary_endpoints = aws.ssm.get_parameter(name=primary, region=settings.primary_region).value
            except Exception as error:  # noqa: BLE001 - a failed invoke arrives as a plain Exception
                raise _lookup_failure(primary, settings.primary_region, str(error)) from None
            for region, value in ((settings.region, endpoints), (settings.primary_region, primary_endpoints)):
                aws.ssm.Parameter(
                    f"{name}-registry-copy-{region}",
                    name=settings.parameter("regions", region),
                    type="String",
                    insecure_value=value,
                    description=f"Public endpoints of {region}, this region's copy of the registry",
                    opts=child,
                )
            # SSM parameters are regional: each one names the region it is written in (pulumi-aws 7's
            # per-resource region, through this stack's one provider).
            for other in settings.regions:
                if other not in (settings.region, settings.primary_region):
                    aws.ssm.Parameter(
                        f"{name}-registry-entry-{other}",
                        name=settings.parameter("regions", settings.region),
                        type="String",
                        insecure_value=endpoints,
                        region=other,
                        description=f"Public endpoints of {settings.region}, in {other}'s registry copy",
                        opts=child,
                    )
        self.register_outputs({"registration": self.registration.name})


def parameter_arn(region: str, name: str) -> pulumi.Output[str]:
    """The ARN of an SSM parameter (or path) by name, for IAM policies written before it exists."""
    account = aws.get_caller_identity_output().account_id
    partition = aws.get_partition_output().partition
    return pulumi.Output.concat("arn:", partition, ":ssm:", region, ":", account, ":parameter", name)
