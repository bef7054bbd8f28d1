"""What AWS FIS's Lambda actions need in a region: the S3 location FIS writes faults to, and the
AWS FIS Lambda extension, its environment and its read access for each function it may impair.

FIS reads the configuration location from the function and writes the fault there; the extension,
a layer running in the function as its role, polls it and injects the fault:
https://docs.aws.amazon.com/fis/latest/userguide/use-lambda-actions.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.secure_bucket import SecureBucket, SecureBucketArgs

# The folder of the bucket FIS and the extension share (the prefix AWS's examples use).
CONFIG_PREFIX = "FisConfigs/"
# AWS publishes the extension's layer ARN per Region and architecture as a public SSM parameter:
# https://docs.aws.amazon.com/fis/latest/userguide/actions-lambda-extension-arns.html
EXTENSION_PARAMETER = "/aws/service/fis/lambda-extension/AWS-FIS-extension-{architecture}/1.x.x"
# The extension runs the function's runtime through its wrapper script.
EXEC_WRAPPER = "/opt/aws-fis/bootstrap"


@dataclass(frozen=True)
class FunctionFaults:
    """What a function that FIS may impair carries: the extension layer, its environment and
    the read access the extension needs, as its role, to the configuration location."""

    layer: pulumi.Input[str]
    environment: Mapping[str, pulumi.Input[str]]
    statements: Sequence[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class FaultInjectionArgs:
    architecture: str


class FaultInjection(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: FaultInjectionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("active-active:resilience:FaultInjection", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # "You must have a separate bucket for each AWS Region" (use-lambda-actions.html, prerequisites).
        self.config = SecureBucket(
            f"{name}-config",
            SecureBucketArgs(
                # A fault configuration lives minutes; nothing here is worth keeping.
                lifecycle_rules=[
                    {
                        "id": "expire-fault-configurations",
                        "status": "Enabled",
                        "filter": {"prefix": CONFIG_PREFIX},
                        "expiration": {"days": 1},
                        "noncurrent_version_expiration": {"noncurrent_days": 1},
                    }
                ],
                force_destroy=True,
            ),
            child,
        )
        self.bucket_arn = self.config.bucket.arn
        # The location is an S3 ARN with its folder: arn:aws:s3:::<bucket>/FisConfigs/.
        self.location = pulumi.Output.concat(self.bucket_arn, "/", CONFIG_PREFIX)
        self.objects_arn = pulumi.Output.concat(self.bucket_arn, "/", CONFIG_PREFIX, "*")
        layer = aws.ssm.get_parameter_output(
            name=EXTENSION_PARAMETER.format(architecture=args.architecture),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.functions = FunctionFaults(
            layer=layer.value,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
                "AWS_FIS_CONFIGURATION_LOCATION": self.location,
            },
            # The extension's read policy as use-lambda-actions.html gives it: list the folder, read it.
            statements=[
                {
                    "Sid": "FaultInjectionListConfigs",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": self.bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [f"{CONFIG_PREFIX}*"]}},
                },
                {
                    "Sid": "FaultInjectionReadConfigs",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": self.objects_arn,
                },
            ],
        )
        self.register_outputs({"location": self.location})
