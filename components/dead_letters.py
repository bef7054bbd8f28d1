"""Dead letters: the queue that catches events no function could store, and the handler that
records each one and alerts Slack. Records the handler itself cannot process are parked in a
second queue after five attempts, so nothing is ever dropped."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import AppFunction, AppFunctionArgs
from components.settings import FunctionDefaults
from components.slack_api import decrypt_secrets

# Each record may wait up to 5 s on Slack; a batch of 5 fits well inside a minute.
HANDLER_TIMEOUT = 60
BATCH_SIZE = 5
MAX_RECEIVE_COUNT = 5
FOURTEEN_DAYS = 14 * 24 * 3600


@dataclass
class DeadLettersArgs:
    app: str
    defaults: FunctionDefaults
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    webhook_parameter_name: pulumi.Input[str]
    webhook_parameter_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    dependencies_layer: pulumi.Input[str]


class DeadLetters(pulumi.ComponentResource):
    def __init__(self, name: str, args: DeadLettersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:events:DeadLetters", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # SSE-SQS, not a KMS key: EventBridge can't write to a queue encrypted with the
        # AWS-managed SQS key, and a customer key would add cost without a reader outside this app.
        self.parked = aws.sqs.Queue(
            f"{name}-parked",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FOURTEEN_DAYS,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=FOURTEEN_DAYS,
            # Lambda's guidance: at least six times the consumer's timeout.
            visibility_timeout_seconds=6 * HANDLER_TIMEOUT,
            redrive_policy=self.parked.arn.apply(
                lambda arn: f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":{MAX_RECEIVE_COUNT}}}'
            ),
            opts=child,
        )
        self.handler = AppFunction(
            f"{name}-handler",
            AppFunctionArgs(
                source="dead_letters",
                description="Records each dead event and alerts Slack",
                defaults=args.defaults,
                app=args.app,
                timeout=HANDLER_TIMEOUT,
                extra_layers=[args.dependencies_layer],
                environment={
                    "TABLE_NAME": args.table_name,
                    "SLACK_WEBHOOK_PARAMETER": args.webhook_parameter_name,
                },
                statements=[
                    {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": args.table_arn},
                    {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": args.webhook_parameter_arn},
                    decrypt_secrets(args.secrets_key_arn),
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sqs:ReceiveMessage",
                            "sqs:DeleteMessage",
                            "sqs:ChangeMessageVisibility",
                            "sqs:GetQueueAttributes",
                        ],
                        "Resource": self.queue.arn,
                    },
                ],
            ),
            child,
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=self.queue.arn,
            function_name=self.handler.arn,
            batch_size=BATCH_SIZE,
            maximum_batching_window_in_seconds=5,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": 2},
            # Lambda polls the queue as the handler's role, which must already allow it.
            # https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html#events-sqs-permissions
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.handler.policy]),
        )
        self.queue_arn = self.queue.arn
        self.queue_url = self.queue.url
        self.register_outputs({"queueArn": self.queue_arn, "parkedQueueArn": self.parked.arn})
