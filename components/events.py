"""Events: the app's EventBridge bus, and the rule that hands each page view to the writer.

The rule's target retries with an explicit policy and sends what it cannot deliver to the dead
letter queue; the writer's own asynchronous failures go there too (on-failure destination).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.function import AppFunction, AppFunctionArgs
from components.settings import FunctionDefaults

DETAIL_TYPE = "PageViewed"


@dataclass
class EventsArgs:
    app: str
    defaults: FunctionDefaults
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    chaos_parameter_prefix: str
    chaos_parameter_arn: pulumi.Input[str]
    dead_letter_queue_arn: pulumi.Input[str]
    dead_letter_queue_url: pulumi.Input[str]
    # Our layer: its bytecode of the Powertools layer shortens every cold start (packaging).
    dependencies_layer: pulumi.Input[str]
    # The table's replicas in the other regions, where the writer looks for a late event's guard.
    other_replica_regions: Sequence[str] = field(default_factory=tuple)


class Events(pulumi.ComponentResource):
    def __init__(self, name: str, args: EventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:events:Events", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.source = f"{args.app}.clicks"
        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", opts=child)
        others = [replica_arn(args.table_arn, region) for region in args.other_replica_regions]
        self.writer = AppFunction(
            f"{name}-writer",
            AppFunctionArgs(
                source="writer",
                description="Stores each page view exactly once",
                defaults=args.defaults,
                app=args.app,
                environment={
                    "TABLE_NAME": args.table_name,
                    "CHAOS_PARAMETER_PREFIX": args.chaos_parameter_prefix,
                    **({"OTHER_REPLICA_REGIONS": ",".join(args.other_replica_regions)} if others else {}),
                },
                statements=[
                    {
                        # TransactWriteItems is authorized per item action: a Put and an Update.
                        "Effect": "Allow",
                        "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                        "Resource": args.table_arn,
                    },
                    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": args.chaos_parameter_arn},
                    *(
                        [
                            {
                                # A late event's guard, read in each other replica (functions/writer).
                                "Sid": "LateEventGuards",
                                "Effect": "Allow",
                                "Action": "dynamodb:GetItem",
                                "Resource": others,
                            }
                        ]
                        if others
                        else []
                    ),
                ],
                on_failure_destination=args.dead_letter_queue_arn,
                extra_layers=[args.dependencies_layer],
            ),
            child,
        )
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-page-viewed",
            event_bus_name=self.bus.name,
            description="Page views to the writer",
            event_pattern=json.dumps({"source": [self.source], "detail-type": [DETAIL_TYPE]}),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-to-writer",
            rule=self.rule.name,
            event_bus_name=self.bus.name,
            arn=self.writer.arn,
            retry_policy={"maximum_retry_attempts": 8, "maximum_event_age_in_seconds": 3600},
            dead_letter_config={"arn": args.dead_letter_queue_arn},
            opts=child,
        )
        self.writer.allow_invoke(f"{name}-writer-invoke", "events.amazonaws.com", self.rule.arn)
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=args.dead_letter_queue_url,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "RuleDeadLetters",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": args.dead_letter_queue_arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": self.rule.arn}},
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.bus_name = self.bus.name
        self.bus_arn = self.bus.arn
        self.register_outputs({"busName": self.bus_name, "ruleArn": self.rule.arn})


def replica_arn(table_arn: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """The ARN of the global table's replica in ``region``: a replica has its table's name, in its
    own region (arn:partition:dynamodb:region:account:table/name)."""

    def in_region(arn: str) -> str:
        parts = arn.split(":", 5)
        parts[3] = region
        return ":".join(parts)

    return pulumi.Output.from_input(table_arn).apply(in_region)
