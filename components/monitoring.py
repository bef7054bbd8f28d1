"""Monitoring: a CloudWatch dashboard per region, and the alarms that page people.

- Failed logins over the threshold invoke the security responder directly (alarm Lambda action).
- The user API's error rate over the threshold, and any message in a dead letter queue, notify
  Slack through an encrypted SNS topic whose KMS key lets CloudWatch publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.function import AppFunction, AppFunctionArgs
from components.iam import key_administrators
from components.settings import FunctionDefaults
from components.slack_api import decrypt_secrets

FAILED_LOGIN_WINDOW_SECONDS = 300
# Lambda's Errors counts only invocations that raise; the HTTP functions answer an exception
# with a 500 instead and count it as their HandledErrors metric (service dimension = source
# folder; functions/shared/http.py, docs/functions.md).
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
HANDLED_ERRORS = "HandledErrors"


@dataclass
class MonitoringArgs:
    app: str
    defaults: FunctionDefaults
    region: str
    regions: Sequence[str]
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    functions: Mapping[str, AppFunction]  # every other function of the stack, by source folder
    http_functions: Sequence[str]  # those of them behind the user and Slack APIs
    user_api_id: pulumi.Input[str]
    slack_api_id: pulumi.Input[str]
    queues: Mapping[str, pulumi.Input[str]]  # dead letter queue names, by label
    failed_login_threshold: int
    error_rate_threshold: float
    webhook_parameter_name: pulumi.Input[str]
    webhook_parameter_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    dependencies_layer: pulumi.Input[str]
    dead_letter_queue_arn: pulumi.Input[str]


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output().account_id
        partition = aws.get_partition_output().partition
        webhook_env = {"SLACK_WEBHOOK_PARAMETER": args.webhook_parameter_name}
        read_webhook = {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": args.webhook_parameter_arn,
        }
        decrypt_webhook = decrypt_secrets(args.secrets_key_arn)

        self.key = aws.kms.Key(
            f"{name}-alarms-key",
            description=f"{args.app} alarm topic encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        key_administrators(),
                        {
                            "Sid": "CloudWatchPublishesAlarms",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Resource": "*",
                            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                        },
                    ],
                }
            ),
            opts=child,
        )
        # Alias names are unique per account and Region, so every region's stack can use the same one.
        # https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
        aws.kms.Alias(
            f"{name}-alarms-key-alias",
            name=f"alias/{args.app}-alarms",
            target_key_id=self.key.key_id,
            opts=child,
        )
        self.topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id=self.key.id, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "CloudWatchAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": self.topic.arn,
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": account},
                                "ArnLike": {
                                    "aws:SourceArn": pulumi.Output.concat(
                                        "arn:",
                                        partition,
                                        ":cloudwatch:",
                                        args.region,
                                        ":",
                                        account,
                                        ":alarm:*",
                                    )
                                },
                            },
                        }
                    ],
                }
            ),
            opts=child,
        )

        self.notifier = AppFunction(
            f"{name}-notifier",
            AppFunctionArgs(
                source="notifier",
                description="Alarm notifications to Slack (Block Kit)",
                defaults=args.defaults,
                app=args.app,
                environment=webhook_env,
                statements=[read_webhook, decrypt_webhook],
                extra_layers=[args.dependencies_layer],
                on_failure_destination=args.dead_letter_queue_arn,
            ),
            child,
        )
        aws.sns.TopicSubscription(
            f"{name}-alarms-to-notifier",
            topic=self.topic.arn,
            protocol="lambda",
            endpoint=self.notifier.arn,
            opts=child,
        )
        self.notifier.allow_invoke(f"{name}-notifier-invoke", "sns.amazonaws.com", self.topic.arn)

        self.security = AppFunction(
            f"{name}-security",
            AppFunctionArgs(
                source="security",
                description="Failed-login alarm: top offending usernames and source IPs to Slack",
                defaults=args.defaults,
                app=args.app,
                timeout=30,
                environment={
                    "TABLE_NAME": args.table_name,
                    "SECURITY_WINDOW_MINUTES": str(FAILED_LOGIN_WINDOW_SECONDS // 60),
                    **webhook_env,
                },
                statements=[
                    {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": args.table_arn},
                    read_webhook,
                    decrypt_webhook,
                ],
                extra_layers=[args.dependencies_layer],
                on_failure_destination=args.dead_letter_queue_arn,
            ),
            child,
        )

        self.failed_logins = aws.cloudwatch.MetricAlarm(
            f"{name}-failed-logins",
            alarm_description=f"More than {args.failed_login_threshold - 1} failed logins in 5 minutes",
            namespace=args.app,
            metric_name="FailedLogins",
            dimensions={"service": "login"},
            statistic="Sum",
            period=FAILED_LOGIN_WINDOW_SECONDS,
            evaluation_periods=1,
            threshold=args.failed_login_threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.security.arn],
            ok_actions=[self.security.arn],
            opts=child,
        )
        self.security.allow_invoke(
            f"{name}-security-invoke", "lambda.alarms.cloudwatch.amazonaws.com", self.failed_logins.arn
        )

        self.error_rate = aws.cloudwatch.MetricAlarm(
            f"{name}-error-rate",
            alarm_description=f"User API 5xx responses above {args.error_rate_threshold:.0%} of requests",
            metric_queries=[
                _api_metric("errors", "5xx", args.user_api_id),
                _api_metric("requests", "Count", args.user_api_id),
                {
                    "id": "rate",
                    "expression": "IF(requests > 0, errors / requests, 0)",
                    "label": "5xx rate",
                    "return_data": True,
                },
            ],
            evaluation_periods=3,
            datapoints_to_alarm=2,
            threshold=args.error_rate_threshold,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=child,
        )
        self.queue_alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{label}-not-empty",
                alarm_description=f"Messages are waiting in the {label} queue",
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue_name},
                statistic="Maximum",
                period=60,
                evaluation_periods=1,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
                ok_actions=[self.topic.arn],
                opts=child,
            )
            for label, queue_name in args.queues.items()
        ]
        # By the queue's label (e.g. "dead-letters": the outage drill's stop condition).
        self.queue_alarm = dict(zip(args.queues, self.queue_alarms, strict=True))

        own = {"notifier": self.notifier, "security": self.security}
        function_names = {source: function.name for source, function in {**args.functions, **own}.items()}
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"{args.app}-{args.region}",
            dashboard_body=pulumi.Output.all(
                functions=function_names,
                queues=dict(args.queues),
                user_api=args.user_api_id,
                slack_api=args.slack_api_id,
                table=args.table_name,
            ).apply(lambda resolved: json.dumps(_dashboard(args, resolved))),
            opts=child,
        )
        self.register_outputs({"dashboard": self.dashboard.dashboard_name, "topicArn": self.topic.arn})


def _api_metric(
    metric_id: str, metric: str, api_id: pulumi.Input[str]
) -> aws.cloudwatch.MetricAlarmMetricQueryArgsDict:
    return {
        "id": metric_id,
        "metric": {
            "namespace": "AWS/ApiGateway",
            "metric_name": metric,
            "dimensions": {"ApiId": api_id, "Stage": "$default"},
            "period": 60,
            "stat": "Sum",
        },
        "return_data": False,
    }


def _dashboard(args: MonitoringArgs, resolved: dict[str, Any]) -> dict[str, Any]:
    """The dashboard body: what CloudWatch draws, and what the local cloud's dashboard page reads."""
    region = args.region
    functions = resolved["functions"]

    def widget(title: str, metrics: list[list[Any]], stat: str = "Sum", **extra: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "stat": stat,
                "period": 60,
                "view": "timeSeries",
                "metrics": metrics,
                **extra,
            },
        }

    def per_function(metric: str) -> list[list[Any]]:
        return [
            ["AWS/Lambda", metric, "FunctionName", name, {"label": source}]
            for source, name in functions.items()
        ]

    def per_api(metric: str) -> list[list[Any]]:
        return [
            ["AWS/ApiGateway", metric, "ApiId", resolved[key], "Stage", "$default", {"label": label}]
            for key, label in (("user_api", "user API"), ("slack_api", "Slack API"))
        ]

    handled_errors = [
        [args.app, HANDLED_ERRORS, "service", source, {"label": f"{source} (answered 500)"}]
        for source in functions
        if source in args.http_functions
    ]
    widgets = [
        widget("Lambda invocations", per_function("Invocations")),
        widget("Lambda errors", [*per_function("Errors"), *handled_errors]),
        widget("Lambda throttles", per_function("Throttles")),
        widget("Lambda duration (p90, ms)", per_function("Duration"), stat="p90"),
        widget(
            "Dead letter queue depth",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, {"label": label}]
                for label, name in resolved["queues"].items()
            ],
            stat="Maximum",
        ),
        widget("API 4xx", per_api("4xx")),
        widget("API 5xx", per_api("5xx")),
        widget("API latency (p90, ms)", per_api("Latency"), stat="p90"),
        widget(
            "Failed logins and injected failures",
            [
                [args.app, "FailedLogins", "service", "login", {"label": "failed logins"}],
                [args.app, "InjectedFailures", "service", "clicks", {"label": "injected failures"}],
            ],
        ),
        widget(
            "Replication latency (ms)",
            [
                [
                    "AWS/DynamoDB",
                    "ReplicationLatency",
                    "TableName",
                    resolved["table"],
                    "ReceivingRegion",
                    other,
                ]
                for other in args.regions
                if other != region
            ],
            stat="Average",
        ),
    ]
    for index, item in enumerate(widgets):
        item["x"] = (index % 2) * 12
        item["y"] = (index // 2) * 6
    return {"widgets": widgets}
