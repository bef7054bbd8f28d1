"""Policy documents several components build the same way."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws


def assume_role_policy(service: str, external_id: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """A trust policy that lets exactly one AWS service assume the role; with `external_id`, only
    when the service passes that id."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [statement]})


def key_administrators() -> dict[str, Any]:
    """AWS's default key policy statement: the account administers its key, and IAM policies
    decide who may use it. In a key policy, Resource "*" means this key."""
    partition = aws.get_partition_output().partition
    account = aws.get_caller_identity_output().account_id
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")},
        "Action": "kms:*",
        "Resource": "*",
    }
