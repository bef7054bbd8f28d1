"""The outage drill in AWS: AWS FIS experiment templates that impair this region as far as FIS can
for this architecture, one per allowed duration, with their role.

Each template, for its duration, pauses the global table's replication to and from this region's
replica (``aws:dynamodb:global-table-pause-replication``) and makes every user route's function
fail its invocations (``aws:lambda:invocation-error``, through the FIS Lambda extension that
``FaultInjection`` puts on them). A CloudWatch alarm stops it early. FIS cannot take an API
Gateway HTTP API or Cognito down (README, "The drill in AWS").

StartExperiment takes no duration (https://docs.aws.amazon.com/fis/latest/APIReference/API_StartExperiment.html),
so each allowed duration is a template of its own; `/chaos drill <region> <minutes>` reads their
ids from the SSM parameter this component publishes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.fault_injection import FaultInjection
from components.function import AppFunction

# Minutes a drill may last. Bounded: FIS bills each action by the minute (README, cost).
DRILL_MINUTES = (1, 5, 10, 15)
TABLES_TARGET = "Table"
FUNCTIONS_TARGET = "Functions"
# A target lists at most 5 resource ARNs (FIS's CreateExperimentTemplate model): the functions are
# split across targets, each with its own invocation-error action.
TARGET_ARNS_MAX = 5


@dataclass
class DrillArgs:
    app: str
    region: str
    table_arn: pulumi.Input[str]  # this region's replica of the global table
    functions: Sequence[AppFunction]  # those that carry the FIS extension
    fault_injection: FaultInjection
    stop_alarm_arn: pulumi.Input[str]
    parameter_name: str


class Drill(pulumi.ComponentResource):
    def __init__(self, name: str, args: DrillArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:resilience:Drill", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output().account_id
        partition = aws.get_partition_output().partition
        # Unqualified ARNs: FIS resolves aws:lambda:function targets to functions, and the extension
        # injects into every version and alias of them.
        function_arns = [function.function.arn for function in args.functions]

        # The trust policy FIS documents, with the confused-deputy conditions: only experiments of
        # this account, in this region, assume it.
        # https://docs.aws.amazon.com/fis/latest/userguide/getting-started-iam-service-role.html
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"{args.app} outage drill (AWS FIS experiments in {args.region})",
            assume_role_policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "fis.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": account},
                                "ArnLike": {
                                    "aws:SourceArn": pulumi.Output.concat(
                                        "arn:", partition, ":fis:", args.region, ":", account, ":experiment/*"
                                    )
                                },
                            },
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            # The pause is a resource policy statement on the replica that denies the
                            # replication service, removed when the action ends (FIS actions reference,
                            # aws:dynamodb:global-table-pause-replication).
                            "Sid": "PauseReplication",
                            "Effect": "Allow",
                            "Action": [
                                "dynamodb:DescribeTable",
                                "dynamodb:GetResourcePolicy",
                                "dynamodb:PutResourcePolicy",
                                "dynamodb:DeleteResourcePolicy",
                            ],
                            "Resource": args.table_arn,
                        },
                        {
                            # FIS reads each target function's configuration location.
                            "Sid": "ReadTargetFunctions",
                            "Effect": "Allow",
                            "Action": "lambda:GetFunction",
                            "Resource": function_arns,
                        },
                        {
                            # FIS writes the fault for the extension and deletes it when the action ends
                            # (use-lambda-actions.html, the experiment's write policy).
                            "Sid": "WriteFaultConfigs",
                            "Effect": "Allow",
                            "Action": ["s3:PutObject", "s3:DeleteObject"],
                            "Resource": args.fault_injection.objects_arn,
                        },
                        {
                            # FIS resolves targets through the Resource Groups Tagging API, which has
                            # no resource-level permissions: AWS requires "*" here.
                            "Sid": "ResolveTargets",
                            "Effect": "Allow",
                            "Action": "tag:GetResources",
                            "Resource": "*",
                        },
                    ],
                }
            ),
            opts=child,
        )
        self.templates = {
            minutes: self._template(name, args, minutes, function_arns, child) for minutes in DRILL_MINUTES
        }
        self.parameter = aws.ssm.Parameter(
            f"{name}-templates",
            name=args.parameter_name,
            type="String",
            description="AWS FIS experiment template id of this region's outage drill, by minutes",
            value=pulumi.Output.all(*[template.id for template in self.templates.values()]).apply(
                lambda ids: json.dumps(
                    dict(zip([str(minutes) for minutes in DRILL_MINUTES], ids, strict=True))
                )
            ),
            opts=child,
        )
        self.register_outputs({"parameter": self.parameter.name})

    def _template(
        self,
        name: str,
        args: DrillArgs,
        minutes: int,
        function_arns: list[pulumi.Output[str]],
        child: pulumi.ResourceOptions,
    ) -> aws.fis.ExperimentTemplate:
        # ISO 8601, as every FIS action's duration parameter takes it.
        duration = f"PT{minutes}M"
        chunks = [
            function_arns[i : i + TARGET_ARNS_MAX] for i in range(0, len(function_arns), TARGET_ARNS_MAX)
        ]
        targets: list[aws.fis.ExperimentTemplateTargetArgsDict] = [
            {
                "name": TABLES_TARGET,
                "resource_type": "aws:dynamodb:global-table",
                "resource_arns": [args.table_arn],
                "selection_mode": "ALL",
            }
        ]
        actions: list[aws.fis.ExperimentTemplateActionArgsDict] = [
            {
                "name": "pause-replication",
                "action_id": "aws:dynamodb:global-table-pause-replication",
                "parameters": [{"key": "duration", "value": duration}],
                "target": {"key": "Tables", "value": TABLES_TARGET},
            }
        ]
        for index, chunk in enumerate(chunks, start=1):
            target = f"{FUNCTIONS_TARGET}{index}"
            targets.append(
                {
                    "name": target,
                    "resource_type": "aws:lambda:function",
                    "resource_arns": chunk,
                    "selection_mode": "ALL",
                }
            )
            actions.append(
                {
                    "name": f"invocation-errors-{index}",
                    "action_id": "aws:lambda:invocation-error",
                    "parameters": [
                        {"key": "duration", "value": duration},
                        {"key": "invocationPercentage", "value": "100"},
                        # The handler does not run: nothing is written, as in an outage.
                        {"key": "preventExecution", "value": "true"},
                    ],
                    "target": {"key": "Functions", "value": target},
                }
            )
        return aws.fis.ExperimentTemplate(
            f"{name}-{minutes}m",
            description=f"{args.app}: {args.region} outage drill, {minutes} min",
            role_arn=self.role.arn,
            # The experiment stops as soon as the alarm is in ALARM, and does not start while it is.
            stop_conditions=[{"source": "aws:cloudwatch:alarm", "value": args.stop_alarm_arn}],
            targets=targets,
            actions=actions,
            # Explicit, not only the provider's default tags: `/chaos drill` may start only templates
            # tagged with the app (components/slack_api.py).
            tags={"Name": f"{args.app}-drill-{minutes}m", "app": args.app},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
