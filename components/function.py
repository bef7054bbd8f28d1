"""Every Lambda function of the app, built the same way.

Least-privilege role (only the statements the caller passes, plus its own log group and
X-Ray), a log group with retention, the architecture and runtime from the stack settings,
Powertools from AWS's public layer (not bundled), active tracing, a timeout, environment
variables, and an on-failure destination when the function is invoked asynchronously. Where the
stack and the caller allow, SnapStart (or provisioned concurrency) on a published version behind
the alias ``live``, which callers then invoke.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.fault_injection import FunctionFaults
from components.iam import assume_role_policy
from components.packaging import dependencies_archive, function_archive
from components.powertools import layer_arn
from components.settings import FunctionDefaults

Statement = Mapping[str, Any]


@dataclass
class AppFunctionArgs:
    source: str  # folder under functions/
    description: str
    defaults: FunctionDefaults
    app: str
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    statements: Sequence[Statement] = field(default_factory=list)
    timeout: int = 10
    extra_layers: Sequence[pulumi.Input[str]] = field(default_factory=list)
    # SQS queue ARN for failed asynchronous invocations (EventBridge, SNS, alarm actions).
    on_failure_destination: pulumi.Input[str] | None = None
    # Reserved and provisioned concurrency apply only where the stack asks and the caller allows.
    user_facing: bool = False
    # SnapStart too (the stack's snapStart): for functions whose cold start someone waits for.
    snap_start: bool = False
    # Functions AWS FIS's Lambda actions may impair (the drill): the FIS extension and what it needs.
    faults: FunctionFaults | None = None


class AppFunction(pulumi.ComponentResource):
    def __init__(self, name: str, args: AppFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:compute:AppFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        defaults = args.defaults
        self.source = args.source
        region = aws.get_region_output().region

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix=f"/aws/lambda/{args.app}-{args.source}-",
            retention_in_days=defaults.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"{args.app} {args.source} function",
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            opts=child,
        )
        statements: list[pulumi.Input[Statement]] = [
            {
                "Sid": "OwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": self.log_group.arn.apply(lambda arn: f"{arn}:*"),
            },
            {
                # X-Ray has no resource-level permissions: AWS requires "*" here.
                "Sid": "Tracing",
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            },
            *args.statements,
            *(args.faults.statements if args.faults is not None else []),
        ]
        if args.on_failure_destination is not None:
            statements.append(
                {
                    "Sid": "OnFailureDestination",
                    "Effect": "Allow",
                    "Action": "sqs:SendMessage",
                    "Resource": args.on_failure_destination,
                }
            )
        # Whatever calls on the role (the function, its event source mappings, its destinations)
        # waits for this policy: only the role itself is an input of theirs.
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
            opts=child,
        )

        powertools = region.apply(
            lambda r: layer_arn(r, defaults.runtime, defaults.architecture, defaults.powertools_layer_version)
        )
        provisioned = defaults.provisioned_concurrency if args.user_facing else None
        snap_start = defaults.snap_start and args.snap_start
        self.function = aws.lambda_.Function(
            f"{name}-function",
            description=args.description,
            role=self.role.arn,
            runtime=defaults.runtime,
            architectures=[defaults.architecture],
            memory_size=defaults.memory_mb,
            timeout=args.timeout,
            handler=f"{args.source}.app.handler",
            code=function_archive(args.source, defaults.runtime),
            layers=[
                powertools,
                *args.extra_layers,
                *([args.faults.layer] if args.faults is not None else []),
            ],
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "Text", "log_group": self.log_group.name},
            reserved_concurrent_executions=defaults.reserved_concurrency if args.user_facing else None,
            publish=provisioned is not None or snap_start,
            # SnapStart works on published versions only, never on $LATEST:
            # https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html#snapstart-runtimes
            snap_start={"apply_on": "PublishedVersions"} if snap_start else None,
            environment={
                "variables": {
                    "POWERTOOLS_SERVICE_NAME": args.source,
                    "POWERTOOLS_METRICS_NAMESPACE": args.app,
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                    **args.environment,
                    **(args.faults.environment if args.faults is not None else {}),
                }
            },
            # The first invocation runs as the role and logs to the group: both must exist.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.policy]),
        )
        self.name = self.function.name
        self.arn = self.function.arn
        self.invoke_arn = self.function.invoke_arn
        self.qualifier: pulumi.Output[str] | None = None

        if provisioned is not None or snap_start:
            # Callers invoke the published version through the alias: a snapshot is taken of a
            # published version, and provisioned environments are kept for one.
            alias = aws.lambda_.Alias(
                f"{name}-live",
                name="live",
                function_name=self.function.name,
                function_version=self.function.version,
                opts=child,
            )
            if provisioned is not None:
                # Provisioned concurrency counts towards the account's Regional concurrency quota, like
                # reserved concurrency: https://docs.aws.amazon.com/lambda/latest/dg/provisioned-concurrency.html
                aws.lambda_.ProvisionedConcurrencyConfig(
                    f"{name}-provisioned",
                    function_name=self.function.name,
                    qualifier=alias.name,
                    provisioned_concurrent_executions=provisioned,
                    opts=child,
                )
            self.arn = alias.arn
            self.invoke_arn = alias.invoke_arn
            self.qualifier = alias.name

        if args.on_failure_destination is not None:
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-async",
                function_name=self.function.name,
                qualifier=self.qualifier,
                maximum_retry_attempts=2,
                maximum_event_age_in_seconds=3600,
                destination_config={"on_failure": {"destination": args.on_failure_destination}},
                # Lambda sends failed events as the role: without its sqs:SendMessage they are lost.
                # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
            )

        self.register_outputs({"name": self.name, "arn": self.arn})

    def allow_invoke(
        self, name: str, principal: str, source_arn: pulumi.Input[str]
    ) -> aws.lambda_.Permission:
        """Let one AWS service invoke this function, only from the given source ARN. Behind an alias
        the permission names it: a qualified permission lets a caller invoke that alias's ARN only.
        https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html"""
        return aws.lambda_.Permission(
            name,
            action="lambda:InvokeFunction",
            function=self.function.name,
            qualifier=self.qualifier,
            principal=principal,
            source_arn=source_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )


def dependencies_layer(
    name: str, app: str, defaults: FunctionDefaults, opts: pulumi.ResourceOptions | None = None
) -> aws.lambda_.LayerVersion:
    """The third-party packages of functions/requirements.txt (slack_sdk) and bytecode for the
    Powertools layer's modules (``packaging.dependencies_archive``), as one layer that every
    function lists after the Powertools layer."""
    return aws.lambda_.LayerVersion(
        name,
        layer_name=f"{app}-dependencies",
        description="Pinned third-party packages from functions/requirements.txt, Powertools bytecode",
        code=dependencies_archive(defaults.architecture, defaults.runtime),
        compatible_runtimes=[defaults.runtime],
        compatible_architectures=[defaults.architecture],
        opts=opts,
    )
