"""The change archive: every change to the table streams to Kinesis, and Firehose writes it to
an archive bucket under date-partitioned keys."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy
from components.secure_bucket import SecureBucket, SecureBucketArgs

PARTITIONS = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
# S3 moves objects to Standard-IA only once they are 30 days old, and bills each object there
# for at least 30 days: an archive kept under 60 days stays in Standard until it expires.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
INFREQUENT_ACCESS_AFTER_DAYS = 30
INFREQUENT_ACCESS_MINIMUM_DAYS = 30


@dataclass
class ChangeArchiveArgs:
    table_name: pulumi.Input[str]
    region: str
    retention_days: int
    log_retention_days: int


class ChangeArchive(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: ChangeArchiveArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("active-active:archive:ChangeArchive", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.stream = aws.kinesis.Stream(
            f"{name}-stream",
            stream_mode_details={"stream_mode": "ON_DEMAND"},
            retention_period=24,
            encryption_type="KMS",
            kms_key_id="alias/aws/kinesis",
            opts=child,
        )
        aws.dynamodb.KinesisStreamingDestination(
            f"{name}-table-changes",
            stream_arn=self.stream.arn,
            table_name=args.table_name,
            opts=child,
        )
        self.bucket = SecureBucket(
            f"{name}-bucket", SecureBucketArgs(lifecycle_rules=[archive_rule(args.retention_days)]), child
        )
        delivery_logs = aws.cloudwatch.LogGroup(
            f"{name}-delivery-logs", retention_in_days=args.log_retention_days, opts=child
        )
        delivery_log_stream = aws.cloudwatch.LogStream(
            f"{name}-delivery-errors", log_group_name=delivery_logs.name, opts=child
        )
        # Firehose passes the account id as the external id: no other account's stream can use this role.
        # https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#firehose-assume-role
        role = aws.iam.Role(
            f"{name}-firehose-role",
            assume_role_policy=assume_role_policy(
                "firehose.amazonaws.com", external_id=aws.get_caller_identity_output().account_id
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-firehose-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "kinesis:DescribeStream",
                                "kinesis:GetShardIterator",
                                "kinesis:GetRecords",
                                "kinesis:ListShards",
                            ],
                            "Resource": self.stream.arn,
                        },
                        {
                            # Bucket-level actions only: S3 authorizes AbortMultipartUpload on objects.
                            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
                            "Effect": "Allow",
                            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                            "Resource": self.bucket.arn,
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                            "Resource": pulumi.Output.concat(self.bucket.arn, "/*"),
                        },
                        {
                            "Effect": "Allow",
                            "Action": "logs:PutLogEvents",
                            "Resource": delivery_logs.arn.apply(lambda arn: f"{arn}:*"),
                        },
                    ],
                }
            ),
            opts=child,
        )
        # A Kinesis source brings its own encryption (the stream's); the bucket encrypts at rest.
        self.delivery = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-delivery",
            destination="extended_s3",
            kinesis_source_configuration={"kinesis_stream_arn": self.stream.arn, "role_arn": role.arn},
            extended_s3_configuration={
                "role_arn": role.arn,
                "bucket_arn": self.bucket.arn,
                "prefix": f"changes/region={args.region}/{PARTITIONS}",
                "error_output_prefix": f"errors/!{{firehose:error-output-type}}/{PARTITIONS}",
                "buffering_size": 5,
                "buffering_interval": 60,
                "compression_format": "GZIP",
                # One JSON change per line, so the archive reads as newline-delimited JSON.
                "processing_configuration": {
                    "enabled": True,
                    "processors": [{"type": "AppendDelimiterToRecord"}],
                },
                "cloudwatch_logging_options": {
                    "enabled": True,
                    "log_group_name": delivery_logs.name,
                    "log_stream_name": delivery_log_stream.name,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.stream_name = self.stream.name
        self.bucket_name = self.bucket.name
        self.register_outputs({"streamName": self.stream_name, "bucketName": self.bucket_name})


def archive_rule(retention_days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """Changes expire after `retention_days`, in Standard-IA from day 30 when they stay there long enough."""
    rule: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
        "id": "archive-then-expire",
        "status": "Enabled",
        "filter": {"prefix": "changes/"},
        "expiration": {"days": retention_days},
    }
    if retention_days >= INFREQUENT_ACCESS_AFTER_DAYS + INFREQUENT_ACCESS_MINIMUM_DAYS:
        rule["transitions"] = [{"days": INFREQUENT_ACCESS_AFTER_DAYS, "storage_class": "STANDARD_IA"}]
    return rule
