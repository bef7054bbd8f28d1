"""What ``make plan`` knows about resource types: which hold data, and which input changes
replace a resource instead of updating it in place.

pulumi-aws bridges the Terraform AWS provider: a property the provider's schema marks ``ForceNew``
makes Pulumi replace the resource. The installed Python package carries no schema (no
``schema.json``, no ``replace_on_changes`` in any resource) and says so in its docs only here and
there ("Changing this forces a new resource", in about 40 resource modules, none of the types
this program uses): ``documented()`` reads those sentences, and ``FORCE_NEW`` lists, with its
source, each type this program changes most or that holds data. A change to an input of a type
known to neither, and to ``region`` anywhere (neither names it), is "may replace".
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

# What each stateful type holds: replacing or deleting one loses it.
STATEFUL = {
    "aws:dynamodb/table:Table": "every item in the table",
    "aws:dynamodb/tableReplica:TableReplica": "this region's replica of the table",
    "aws:cognito/userPool:UserPool": "every user and password",
    "aws:s3/bucket:Bucket": "every object in the bucket",
    "aws:s3/bucketV2:BucketV2": "every object in the bucket",
    "aws:kms/key:Key": "what it encrypts (after the deletion window, nothing can decrypt it)",
    "aws:kinesis/stream:Stream": "the change records not yet archived",
    "aws:cloudwatch/logGroup:LogGroup": "its logs",
    # The dead letter queues hold the events no function could handle yet.
    "aws:sqs/queue:Queue": "the messages in the queue",
}

# A Terraform AWS provider source file, by path in hashicorp/terraform-provider-aws.
_TF = "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/"


@dataclass(frozen=True)
class Facts:
    """A type's inputs (camelCase, top level) whose change forces a new resource, those that do
    only for some values, and where that is written."""

    replaces: frozenset[str]
    source: str
    sometimes: frozenset[str] = field(default_factory=frozenset)


def _facts(replaces: str, source: str, sometimes: str = "") -> Facts:
    return Facts(frozenset(replaces.split()), _TF + source, frozenset(sometimes.split()))


# ForceNew properties of each type's schema in the Terraform AWS provider, checked in the source.
FORCE_NEW = {
    "aws:dynamodb/table:Table": _facts(
        "name hashKey rangeKey localSecondaryIndexes restoreSourceName restoreToLatestTime restoreDateTime",
        "dynamodb/table.go",
    ),
    "aws:dynamodb/tableReplica:TableReplica": _facts(
        "globalTableArn kmsKeyArn tableClassOverride", "dynamodb/table_replica.go"
    ),
    "aws:cognito/userPool:UserPool": _facts(
        "name aliasAttributes usernameAttributes usernameConfiguration", "cognitoidp/user_pool.go"
    ),
    "aws:s3/bucket:Bucket": _facts("bucket bucketPrefix", "s3/bucket.go"),
    "aws:kms/key:Key": _facts(
        "customKeyStoreId customerMasterKeySpec keyUsage multiRegion xksKeyId", "kms/key.go"
    ),
    "aws:kinesis/stream:Stream": _facts("name", "kinesis/stream.go"),
    "aws:cloudwatch/logGroup:LogGroup": _facts("name namePrefix logGroupClass", "logs/group.go"),
    "aws:sqs/queue:Queue": _facts("name namePrefix fifoQueue", "sqs/queue.go"),
    # Pulumi calls the provider's function_name `name`.
    "aws:lambda/function:Function": _facts("name packageType tenancyConfig", "lambda/function.go"),
    "aws:iam/role:Role": _facts("name namePrefix path", "iam/role.go"),
    "aws:iam/rolePolicy:RolePolicy": _facts("name namePrefix role", "iam/role_policy.go"),
    "aws:cloudwatch/dashboard:Dashboard": _facts("dashboardName", "cloudwatch/dashboard.go"),
    # A tier change from Advanced to Standard replaces the parameter (CustomizeDiff ForceNewIfChange).
    "aws:ssm/parameter:Parameter": _facts("name dataType", "ssm/parameter.go", sometimes="tier"),
    "aws:s3/bucketObjectv2:BucketObjectv2": _facts("bucket key", "s3/object.go"),
    # Neither has an update: every argument is ForceNew (a layer version is immutable; Pulumi
    # calls its filename `code`, the permission's function_name `function`).
    "aws:lambda/layerVersion:LayerVersion": _facts(
        "code compatibleArchitectures compatibleRuntimes description layerName licenseInfo s3Bucket s3Key "
        "s3ObjectVersion sourceCodeHash",
        "lambda/layer_version.go",
    ),
    "aws:lambda/permission:Permission": _facts(
        "action eventSourceToken function functionUrlAuthType invokedViaFunctionUrl principal "
        "principalOrgId qualifier sourceAccount sourceArn statementId statementIdPrefix",
        "lambda/permission.go",
    ),
}


class Effect(Enum):
    UPDATE = "update"
    REPLACE = "replace"
    MAY_REPLACE = "may replace"


def effect(typ: str, key: str, replace_on_changes: list[str]) -> tuple[Effect, str]:
    """What a change to the input `key` of a `typ` resource does, and why we think so."""
    if key in replace_on_changes or "*" in replace_on_changes:
        return Effect.REPLACE, "the program's replace_on_changes"
    if key in documented(typ):
        return Effect.REPLACE, "pulumi-aws docs"
    if key == "region":
        return Effect.MAY_REPLACE, "a resource's region: not documented here"
    facts = FORCE_NEW.get(typ)
    if facts is None:
        return Effect.MAY_REPLACE, f"not known for {typ}"
    if key in facts.replaces:
        return Effect.REPLACE, facts.source
    if key in facts.sometimes:
        return Effect.MAY_REPLACE, f"replaces for some values: {facts.source}"
    return Effect.UPDATE, facts.source


_REPLACING = re.compile(r"forces? (?:a )?new|forces? replacement|will force a new", re.IGNORECASE)
_PARAM = re.compile(r":param [^\n:]*? (\w+): (.*?)(?=\n\s*:param |\n\s*\"\"\"|\Z)", re.DOTALL)


@functools.cache
def documented(typ: str) -> frozenset[str]:
    """The inputs of `typ` that the installed pulumi-aws docs say force a new resource."""
    source = _module_file(typ)
    if source is None:
        return frozenset()
    text = source.read_text(encoding="utf-8")
    found = {_camel(name) for name, doc in _PARAM.findall(text) if _REPLACING.search(doc)}
    return frozenset(found)


def _module_file(typ: str) -> Path | None:
    """pulumi_aws/<module>/<resource>.py for a type token such as aws:cloudwatch/logGroup:LogGroup."""
    parts = typ.split(":")
    if len(parts) != 3 or parts[0] != "aws" or "/" not in parts[1]:
        return None
    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or spec.origin is None:
        return None
    module, resource = parts[1].split("/", 1)
    package = "lambda_" if module == "lambda" else module
    path = Path(spec.origin).parent / package / f"{_snake(resource)}.py"
    return path if path.is_file() else None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
