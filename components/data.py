"""The app's DynamoDB table, one global table across every region.

The primary stack creates the table; each secondary stack adds its own replica of it
(``TableReplica``), so adding a region never edits another stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from functions.shared.model import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE


@dataclass
class DataArgs:
    deletion_protection: bool
    # Secondary regions: the primary table's ARN and name, read from SSM.
    global_table_arn: pulumi.Input[str] | None = None
    global_table_name: pulumi.Input[str] | None = None


class Data(pulumi.ComponentResource):
    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("active-active:data:Data", name, None, opts)
        if args.global_table_arn is None:
            table = aws.dynamodb.Table(
                f"{name}-table",
                billing_mode="PAY_PER_REQUEST",
                hash_key=PARTITION_KEY,
                range_key=SORT_KEY,
                attributes=[{"name": PARTITION_KEY, "type": "S"}, {"name": SORT_KEY, "type": "S"}],
                # Global tables replicate through the stream; NEW_AND_OLD_IMAGES is what they need.
                stream_enabled=True,
                stream_view_type="NEW_AND_OLD_IMAGES",
                point_in_time_recovery={"enabled": True},
                server_side_encryption={"enabled": True},
                ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
                deletion_protection_enabled=args.deletion_protection,
                # Replicas belong to the secondary stacks (TableReplica): don't fight them here.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["replicas"]),
            )
            self.table_name: pulumi.Output[str] = table.name
            self.table_arn: pulumi.Output[str] = table.arn
        else:
            replica = aws.dynamodb.TableReplica(
                f"{name}-replica",
                global_table_arn=args.global_table_arn,
                point_in_time_recovery=True,
                deletion_protection_enabled=args.deletion_protection,
                opts=pulumi.ResourceOptions(parent=self),
            )
            # The name is the global table's; deriving it from the replica makes users wait for it.
            table_name = pulumi.Output.from_input(args.global_table_name or "")
            self.table_name = pulumi.Output.all(replica.arn, table_name).apply(
                lambda resolved: str(resolved[1])
            )
            self.table_arn = replica.arn
        self.register_outputs({"tableName": self.table_name, "tableArn": self.table_arn})
