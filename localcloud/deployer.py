"""Deploy one stack into moto by running the real Pulumi program under Pulumi's mock monitor.

Each resource the program registers is created in moto with boto3 and the mock returns moto's
real ids, ARNs and URLs, so every dependent input (a table's name in a function's environment,
a queue's ARN in a rule's target) carries real values. Resource types with no local meaning
(Route 53, ACM, CloudTrail) are recorded as not emulated. The resolved graph, with ids and
outputs, is written to ``.localcloud/<region>/graph.json`` for the data plane.

Run as ``python -m localcloud.deployer <stack> --moto URL --ports JSON --out FILE``: one stack
per process, because Pulumi's runtime keeps global state. The local cloud runs it as
``python -m localcloud.deployer --serve`` instead (``serve``): it imports what the program will
(``preload``) while moto starts, then deploys every stack asked of it on stdin at once, each in a
process forked from itself, so no stack's deployment spends time on imports (about 2 s of CPU a
stack here); a secondary's reads of what the primary publishes wait for it (``EarlierStacks``).

It calls as the local cloud's admin (``--principals``, ``localcloud.iam.principals``): every
resource of the program is created by that principal, as a deployment's role creates them.

Every call to moto is first checked as AWS would check it (``localcloud.validation``): a
resource definition AWS would refuse stops the deployment with AWS's error code and a message
naming the resource.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import importlib.util
import json
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import boto3
import botocore.exceptions
import dill  # type: ignore[import-untyped]
import pulumi

from localcloud import secret_value, validation
from localcloud.iam.principals import UNENFORCED_CREDENTIALS, Credentials, Principals
from localcloud.settings import ACCOUNT
from tools import program

# AWS's public parameters naming the FIS Lambda extension's layer, and a stand-in for AWS's account.
FIS_EXTENSION_PARAMETERS = "/aws/service/fis/lambda-extension/"
FIS_EXTENSION_ACCOUNT = "000000000000"

NOT_EMULATED_PREFIXES = ("aws:route53/", "aws:acm/", "aws:cloudtrail/", "awsx:", "aws:xray/")

Handler = Callable[["MotoMocks", str, dict[str, Any]], tuple[str, dict[str, Any]]]
HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for typ in types:
            HANDLERS[typ] = handler
        return handler

    return register


class MotoMocks(pulumi.runtime.Mocks):
    """Pulumi mocks whose resources are real moto resources."""

    def __init__(
        self,
        stack: str,
        region: str,
        endpoint: str,
        api_ports: dict[str, int],
        credentials: Credentials = UNENFORCED_CREDENTIALS,
        earlier: EarlierStacks | None = None,
    ) -> None:
        self.stack = stack
        self.credentials = credentials
        self.earlier = earlier or EarlierStacks.deployed()
        self.region = region
        self.endpoint = endpoint
        self.api_ports = api_ports
        self.session = boto3.session.Session(botocore_session=_botocore_session())
        validation.install(self.session)  # before any client: each copies the session's hooks
        self.clients: dict[tuple[str, str], Any] = {}
        self.not_emulated: list[dict[str, str]] = []
        self.taps: dict[str, str] = {}  # rule ARN -> SQS queue URL that mirrors the rule's events
        self.lock = threading.RLock()

    def client(self, service: str, region: str | None = None) -> Any:
        """A shared boto3 client per service and region. Clients are thread-safe; creating them
        is not (and is slow), so they are made one at a time from one session."""
        key = (service, region or self.region)
        with self.lock:
            if key not in self.clients:
                self.clients[key] = self.session.client(
                    service,
                    region_name=key[1],
                    endpoint_url=self.endpoint,
                    **self.credentials.client_options(),
                )
            return self.clients[key]

    def physical(self, name: str, limit: int = 64) -> str:
        """A unique physical name: IAM is global, so the stack is part of the suffix."""
        suffix = hashlib.sha256(f"{self.stack}/{name}".encode()).hexdigest()[:7]
        return f"{name[: limit - 8]}-{suffix}"

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        with validation.deploying(f"invoke {args.token}"):
            return self._call(args)

    def _call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        token = args.token
        if token == "aws:index/getRegion:getRegion":
            return {"region": self.region, "name": self.region, "id": self.region}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = self.client("sts").get_caller_identity()
            return {"accountId": identity["Account"], "arn": identity["Arn"], "userId": identity["UserId"]}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:ssm/getParameter:getParameter" and args.args["name"].startswith(
            FIS_EXTENSION_PARAMETERS
        ):
            # AWS's public parameter naming its FIS Lambda extension layer: the layer is AWS's, not
            # in moto; the runner emulates the extension (localcloud.fis.extension).
            name = args.args["name"]
            layer = name.removeprefix(FIS_EXTENSION_PARAMETERS).split("/")[0].lower()
            arn = f"arn:aws:lambda:{self.region}:{FIS_EXTENSION_ACCOUNT}:layer:{layer}:1"
            return {"name": name, "value": arn, "type": "String"}
        if token == "aws:ssm/getParameter:getParameter":
            region = args.args.get("region") or self.region
            ssm = self.client("ssm", region)
            parameter = self.earlier.read(lambda: ssm.get_parameter(Name=args.args["name"]))
            return {"name": parameter["Name"], "value": parameter["Value"], "type": parameter["Type"]}
        raise NotImplementedError(f"the local cloud has no answer for invoke {token}")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        handler = HANDLERS.get(args.typ)
        if handler is not None:
            with validation.deploying(f'{args.typ} "{args.name}"'):
                return handler(self, args.name, inputs)
        if args.typ.startswith(NOT_EMULATED_PREFIXES):
            with self.lock:
                self.not_emulated.append({"type": args.typ, "name": args.name})
        # Components and settings-only resources: their inputs are their outputs.
        return f"{args.name}-{self.stack}", inputs


class EarlierStacks:
    """Whether the stacks deployed before this one have ended, for a deployment that runs beside
    them. A read of a parameter one of them may still publish waits while they run; once they
    have ended it answers as SSM does, so a parameter never published is still
    ParameterNotFound, which the program reports as "deploy the primary region first"."""

    POLL_SECONDS = 0.05

    def __init__(self) -> None:
        self.ended = threading.Event()

    @classmethod
    def deployed(cls) -> EarlierStacks:
        earlier = cls()
        earlier.ended.set()
        return earlier

    @classmethod
    def listening(cls, fd: int) -> EarlierStacks:
        """Ended when the pipe's other end closes (``serve``), read by a thread of its own."""
        earlier = cls()

        def wait() -> None:
            with os.fdopen(fd, "rb") as pipe:
                pipe.read()
            earlier.ended.set()

        threading.Thread(target=wait, name="earlier-stacks", daemon=True).start()
        return earlier

    def read(self, get: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """`get`'s parameter, waited for while the stacks before this one may still write it."""
        while True:
            ended = self.ended.is_set()  # before the read: what they wrote before ending is seen
            try:
                parameter: dict[str, Any] = get()["Parameter"]
                return parameter
            except botocore.exceptions.ClientError as error:
                if ended or error.response["Error"]["Code"] != "ParameterNotFound":
                    raise
            self.ended.wait(self.POLL_SECONDS)


# S3


@handles("aws:s3/bucket:Bucket")
def _bucket(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket = mocks.physical(name, 63).lower()
    extra = (
        {}
        if mocks.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": mocks.region}}
    )
    mocks.client("s3").create_bucket(Bucket=bucket, **extra)
    return bucket, {**inputs, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


@handles("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _public_access(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    mocks.client("s3").put_public_access_block(
        Bucket=inputs["bucket"],
        PublicAccessBlockConfiguration={flag[0].upper() + flag[1:]: bool(inputs.get(flag)) for flag in flags},
    )
    return inputs["bucket"], inputs


@handles("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
def _bucket_encryption(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rule = inputs["rules"][0]
    mocks.client("s3").put_bucket_encryption(
        Bucket=inputs["bucket"],
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
                    },
                    "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled")),
                }
            ]
        },
    )
    return inputs["bucket"], inputs


@handles("aws:s3/bucketVersioning:BucketVersioning")
def _bucket_versioning(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    status = inputs["versioningConfiguration"]["status"]
    mocks.client("s3").put_bucket_versioning(
        Bucket=inputs["bucket"], VersioningConfiguration={"Status": status}
    )
    return inputs["bucket"], inputs


@handles("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
def _bucket_lifecycle(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # moto stores the rules and never applies them; sent so that S3's checks of them run.
    mocks.client("s3").put_bucket_lifecycle_configuration(
        Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": [_api_names(r) for r in inputs["rules"]]}
    )
    return inputs["bucket"], inputs


def _api_names(value: Any) -> Any:
    """Pulumi's camelCase inputs under the AWS API's member names (``id`` is ``ID``)."""
    if isinstance(value, dict):
        return {
            ("ID" if key == "id" else key[0].upper() + key[1:]): _api_names(item)
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        return [_api_names(item) for item in value]
    return _whole(value)


def _whole(value: Any) -> Any:
    """Pulumi's numbers are floats; the API's integers are whole ones."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@handles("aws:s3/bucketObjectv2:BucketObjectv2")
def _bucket_object(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = Path(inputs["source"].path).read_bytes()
    mocks.client("s3").put_object(
        Bucket=inputs["bucket"], Key=inputs["key"], Body=body, ContentType=inputs.get("contentType", "")
    )
    return inputs["key"], inputs


# DynamoDB


def _table_schema(inputs: dict[str, Any]) -> dict[str, Any]:
    keys = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
    if inputs.get("rangeKey"):
        keys.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
    return {
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]
        ],
        "KeySchema": keys,
    }


def _create_table(
    mocks: MotoMocks, region: str, table: str, schema: dict[str, Any], ttl: str | None
) -> dict[str, Any]:
    dynamodb = mocks.client("dynamodb", region)
    description = dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        **schema,
    )["TableDescription"]
    if ttl:
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl}
        )
    return description


@handles("aws:dynamodb/table:Table")
def _table(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table = mocks.physical(name)
    ttl = (inputs.get("ttl") or {}).get("attributeName")
    description = _create_table(mocks, mocks.region, table, _table_schema(inputs), ttl)
    return table, {
        **inputs,
        "name": table,
        "arn": description["TableArn"],
        "streamArn": description["LatestStreamArn"],
    }


@handles("aws:dynamodb/tableReplica:TableReplica")
def _table_replica(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # moto accepts ReplicaUpdates but creates no replica: create this region's copy of the table;
    # the data plane replicates between the regions' streams like a global table.
    arn = inputs["globalTableArn"]
    source_region, table = arn.split(":")[3], arn.rsplit("/", 1)[-1]
    source = mocks.client("dynamodb", source_region).describe_table(TableName=table)["Table"]
    ttl = mocks.client("dynamodb", source_region).describe_time_to_live(TableName=table)[
        "TimeToLiveDescription"
    ]
    schema = {"AttributeDefinitions": source["AttributeDefinitions"], "KeySchema": source["KeySchema"]}
    description = _create_table(mocks, mocks.region, table, schema, ttl.get("AttributeName"))
    return f"{table}:{mocks.region}", {**inputs, "arn": description["TableArn"]}


# Kinesis and Firehose


@handles("aws:kinesis/stream:Stream")
def _stream(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    stream = mocks.physical(name)
    kinesis = mocks.client("kinesis")
    kinesis.create_stream(StreamName=stream, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    return stream, {**inputs, "name": stream, "arn": summary["StreamARN"]}


@handles("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
def _firehose(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    delivery = mocks.physical(name)
    s3 = inputs["extendedS3Configuration"]
    # moto's Firehose neither reads a Kinesis source nor expands prefix expressions: the data
    # plane pumps the stream and writes the date-partitioned objects; this records the config.
    arn = f"arn:aws:firehose:{mocks.region}:{ACCOUNT}:deliverystream/{delivery}"
    return delivery, {**inputs, "name": delivery, "arn": arn, "extendedS3Configuration": s3}


# Cognito


@handles("aws:cognito/userPool:UserPool")
def _user_pool(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    policy = inputs.get("passwordPolicy") or {}
    tier = {"UserPoolTier": inputs["userPoolTier"]} if inputs.get("userPoolTier") else {}
    pool = mocks.client("cognito-idp").create_user_pool(
        PoolName=mocks.physical(name),
        **tier,
        Policies={
            "PasswordPolicy": {
                "MinimumLength": int(policy.get("minimumLength", 8)),
                "RequireUppercase": bool(policy.get("requireUppercase")),
                "RequireLowercase": bool(policy.get("requireLowercase")),
                "RequireNumbers": bool(policy.get("requireNumbers")),
                "RequireSymbols": bool(policy.get("requireSymbols")),
            }
        },
    )["UserPool"]
    return pool["Id"], {
        **inputs,
        "arn": pool["Arn"],
        "endpoint": f"cognito-idp.{mocks.region}.amazonaws.com/{pool['Id']}",
    }


@handles("pulumi-python:dynamic:Resource")
def _dynamic(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The program's own dynamic providers run as the engine runs them: the provider the program
    serialized, its create called with the resource's inputs, its Cognito client the local
    cloud's moto (``localcloud.cognito`` adds the replica operations moto lacks)."""
    if inputs.get("kind") not in ("UserPoolReplica", "UserPoolMultiRegion"):
        raise NotImplementedError(f"the local cloud has no dynamic provider for {name}: {inputs.get('kind')}")
    # Pulumi's dynamic provider host loads the provider this way (pulumi/dynamic/__main__.py); it
    # is the program's own, serialized by the program this deployer runs.
    provider = dill.loads(base64.b64decode(secret_value(inputs.pop("__provider"))))  # noqa: S301
    provider.client = lambda region: mocks.client("cognito-idp", region)
    result = provider.create(inputs)
    return result.id, dict(result.outs or {})


@handles("aws:cognito/userPoolClient:UserPoolClient")
def _user_pool_client(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    client = mocks.client("cognito-idp").create_user_pool_client(
        UserPoolId=inputs["userPoolId"],
        ClientName=mocks.physical(name),
        GenerateSecret=False,
        ExplicitAuthFlows=inputs.get("explicitAuthFlows", []),
    )["UserPoolClient"]
    return client["ClientId"], inputs


@handles("aws:cognito/user:User")
def _user(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cognito = mocks.client("cognito-idp")
    cognito.admin_create_user(
        UserPoolId=inputs["userPoolId"], Username=inputs["username"], MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(
        UserPoolId=inputs["userPoolId"],
        Username=inputs["username"],
        Password=secret_value(inputs["password"]),
        Permanent=True,
    )
    return f"{inputs['userPoolId']}/{inputs['username']}", inputs


# SSM, SQS, SNS, KMS, EventBridge, FIS


@handles("aws:fis/experimentTemplate:ExperimentTemplate")
def _experiment_template(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The template as FIS's CreateExperimentTemplate takes it: actions and targets by name."""
    actions = {
        action["name"]: {
            "actionId": action["actionId"],
            "parameters": {p["key"]: p["value"] for p in action.get("parameters") or []},
            **(
                {"targets": {action["target"]["key"]: action["target"]["value"]}}
                if action.get("target")
                else {}
            ),
        }
        for action in inputs["actions"]
    }
    targets = {
        target["name"]: {
            "resourceType": target["resourceType"],
            "resourceArns": target.get("resourceArns") or [],
            "selectionMode": target["selectionMode"],
        }
        for target in inputs.get("targets") or []
    }
    template = mocks.client("fis").create_experiment_template(
        clientToken=mocks.physical(name),
        description=inputs["description"],
        roleArn=inputs["roleArn"],
        stopConditions=[
            {k: v for k, v in c.items() if k in ("source", "value")} for c in inputs["stopConditions"]
        ],
        targets=targets,
        actions=actions,
        tags=inputs.get("tags") or {},
    )["experimentTemplate"]
    arn = f"arn:aws:fis:{mocks.region}:{ACCOUNT}:experiment-template/{template['id']}"
    return template["id"], {**inputs, "arn": arn}


@handles("aws:ssm/parameter:Parameter")
def _parameter(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    region = inputs.get("region") or mocks.region
    ssm = mocks.client("ssm", region)
    # A SecureString is encrypted under the key the resource names (else aws/ssm): reading it
    # then needs kms:Decrypt on that key (localcloud.iam.authorization).
    key = {"KeyId": inputs["keyId"]} if inputs.get("keyId") and inputs["type"] == "SecureString" else {}
    ssm.put_parameter(
        Name=inputs["name"],
        Type=inputs["type"],
        Value=str(secret_value(inputs["insecureValue"] if "insecureValue" in inputs else inputs["value"])),
        Overwrite=True,
        **key,
    )
    arn = f"arn:aws:ssm:{region}:{ACCOUNT}:parameter{inputs['name']}"
    return inputs["name"], {**inputs, "arn": arn}


@handles("aws:sqs/queue:Queue")
def _queue(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    queue = mocks.physical(name, 80)
    attributes = {
        "VisibilityTimeout": str(int(inputs.get("visibilityTimeoutSeconds", 30))),
        "MessageRetentionPeriod": str(int(inputs.get("messageRetentionSeconds", 345600))),
        "SqsManagedSseEnabled": str(bool(inputs.get("sqsManagedSseEnabled"))).lower(),
    }
    if inputs.get("redrivePolicy"):
        attributes["RedrivePolicy"] = inputs["redrivePolicy"]
    sqs = mocks.client("sqs")
    url = sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, {**inputs, "name": queue, "arn": arn, "url": url}


@handles("aws:sqs/queuePolicy:QueuePolicy")
def _queue_policy(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mocks.client("sqs").set_queue_attributes(
        QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]}
    )
    return inputs["queueUrl"], inputs


@handles("aws:kms/key:Key")
def _key(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = mocks.client("kms").create_key(Description=inputs.get("description", ""), Policy=inputs["policy"])
    metadata = key["KeyMetadata"]
    return metadata["KeyId"], {**inputs, "keyId": metadata["KeyId"], "arn": metadata["Arn"]}


@handles("aws:kms/alias:Alias")
def _key_alias(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mocks.client("kms").create_alias(AliasName=inputs["name"], TargetKeyId=inputs["targetKeyId"])
    return inputs["name"], {**inputs, "arn": f"arn:aws:kms:{mocks.region}:{ACCOUNT}:{inputs['name']}"}


@handles("aws:sns/topic:Topic")
def _topic(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    attributes = {"KmsMasterKeyId": inputs["kmsMasterKeyId"]} if inputs.get("kmsMasterKeyId") else {}
    arn = mocks.client("sns").create_topic(Name=mocks.physical(name, 256), Attributes=attributes)["TopicArn"]
    return arn, {**inputs, "arn": arn, "name": arn.rsplit(":", 1)[-1]}


@handles("aws:sns/topicPolicy:TopicPolicy")
def _topic_policy(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mocks.client("sns").set_topic_attributes(
        TopicArn=inputs["arn"], AttributeName="Policy", AttributeValue=inputs["policy"]
    )
    return inputs["arn"], inputs


@handles("aws:cloudwatch/eventBus:EventBus")
def _event_bus(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bus = mocks.physical(name)
    arn = mocks.client("events").create_event_bus(Name=bus)["EventBusArn"]
    return bus, {**inputs, "name": bus, "arn": arn}


@handles("aws:cloudwatch/eventRule:EventRule")
def _event_rule(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rule = mocks.physical(name)
    events = mocks.client("events")
    arn = events.put_rule(
        Name=rule, EventBusName=inputs["eventBusName"], EventPattern=inputs["eventPattern"]
    )["RuleArn"]
    # moto delivers matched events to SQS targets but cannot run Lambda: a tap queue receives
    # every event the rule matches, and the data plane delivers it to the rule's real targets.
    sqs = mocks.client("sqs")
    tap_url = sqs.create_queue(QueueName=mocks.physical(f"tap-{name}", 80))["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_targets(
        Rule=rule, EventBusName=inputs["eventBusName"], Targets=[{"Id": "localcloud-tap", "Arn": tap_arn}]
    )
    with mocks.lock:
        mocks.taps[arn] = tap_url
    return f"{inputs['eventBusName']}|{rule}", {**inputs, "name": rule, "arn": arn}


# IAM, Logs, Lambda


@handles("aws:iam/role:Role")
def _role(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    role = mocks.physical(name)
    arn = mocks.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=inputs["assumeRolePolicy"])[
        "Role"
    ]["Arn"]
    return role, {**inputs, "name": role, "arn": arn}


@handles("aws:iam/rolePolicy:RolePolicy")
def _role_policy(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    policy = mocks.physical(name, 128)
    mocks.client("iam").put_role_policy(
        RoleName=inputs["role"], PolicyName=policy, PolicyDocument=inputs["policy"]
    )
    return f"{inputs['role']}:{policy}", {**inputs, "name": policy}


@handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = inputs.get("name") or (
        inputs["namePrefix"] + mocks.physical(name).rsplit("-", 1)[-1]
        if inputs.get("namePrefix")
        else f"/localcloud/{mocks.physical(name)}"
    )
    logs = mocks.client("logs")
    logs.create_log_group(logGroupName=group)
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=group, retentionInDays=int(inputs["retentionInDays"]))
    arn = f"arn:aws:logs:{mocks.region}:{ACCOUNT}:log-group:{group}"
    return group, {**inputs, "name": group, "arn": arn}


@handles("aws:cloudwatch/logStream:LogStream")
def _log_stream(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    stream = mocks.physical(name)
    mocks.client("logs").create_log_stream(logGroupName=inputs["logGroupName"], logStreamName=stream)
    return stream, {**inputs, "name": stream}


@handles("aws:lambda/layerVersion:LayerVersion")
def _layer(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    content = Path(inputs["code"].path).read_bytes()
    layer = mocks.client("lambda").publish_layer_version(
        LayerName=inputs["layerName"],
        Content={"ZipFile": content},
        CompatibleRuntimes=inputs.get("compatibleRuntimes", []),
    )
    return layer["LayerVersionArn"], {**inputs, "arn": layer["LayerVersionArn"], "version": layer["Version"]}


@handles("aws:lambda/function:Function")
def _function(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    function = mocks.physical(name)
    lambda_ = mocks.client("lambda")
    # AWS's public Powertools layer does not exist in moto: the local runtime has its release
    # (localcloud/runtimes.py).
    local_layers = [arn for arn in inputs.get("layers", []) if f":{ACCOUNT}:layer:" in arn]
    created = lambda_.create_function(
        FunctionName=function,
        Runtime=inputs["runtime"],
        Role=inputs["role"],
        Handler=inputs["handler"],
        Code={"ZipFile": Path(inputs["code"].path).read_bytes()},
        Timeout=int(inputs.get("timeout", 3)),
        MemorySize=int(inputs.get("memorySize", 128)),
        Environment={"Variables": (inputs.get("environment") or {}).get("variables", {})},
        Architectures=inputs.get("architectures", ["x86_64"]),
        Layers=local_layers,
        TracingConfig={"Mode": (inputs.get("tracingConfig") or {}).get("mode", "PassThrough")},
        Publish=bool(inputs.get("publish")),
        **({"SnapStart": {"ApplyOn": inputs["snapStart"]["applyOn"]}} if inputs.get("snapStart") else {}),
    )
    arn = created["FunctionArn"]
    # With publish, the function's `version` is the version this deployment published.
    version = created["Version"] if inputs.get("publish") else "$LATEST"
    invoke_arn = f"arn:aws:apigateway:{mocks.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    if inputs.get("reservedConcurrentExecutions") is not None:
        lambda_.put_function_concurrency(
            FunctionName=function, ReservedConcurrentExecutions=int(inputs["reservedConcurrentExecutions"])
        )
    return function, {**inputs, "name": function, "arn": arn, "invokeArn": invoke_arn, "version": version}


@handles("aws:lambda/alias:Alias")
def _function_alias(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    alias = mocks.client("lambda").create_alias(
        FunctionName=inputs["functionName"], Name=inputs["name"], FunctionVersion=inputs["functionVersion"]
    )
    arn = alias["AliasArn"]
    invoke_arn = f"arn:aws:apigateway:{mocks.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    return arn, {**inputs, "arn": arn, "invokeArn": invoke_arn}


@handles(
    "aws:lambda/permission:Permission",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    "aws:lambda/eventSourceMapping:EventSourceMapping",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:dynamodb/kinesisStreamingDestination:KinesisStreamingDestination",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
)
def _data_plane_only(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # Stored in the graph; the data plane carries them out (delivery, retries, streaming).
    physical = mocks.physical(name)
    return physical, {**inputs, "name": inputs.get("name") or physical}


@handles("aws:cloudwatch/metricAlarm:MetricAlarm")
def _alarm(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # moto stores alarms but never evaluates them: the data plane's alarm evaluator does.
    alarm = mocks.physical(name, 255)
    return alarm, {
        **inputs,
        "name": alarm,
        "arn": f"arn:aws:cloudwatch:{mocks.region}:{ACCOUNT}:alarm:{alarm}",
    }


@handles("aws:cloudwatch/dashboard:Dashboard")
def _dashboard(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mocks.client("cloudwatch").put_dashboard(
        DashboardName=inputs["dashboardName"], DashboardBody=inputs["dashboardBody"]
    )
    arn = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{inputs['dashboardName']}"
    return inputs["dashboardName"], {**inputs, "dashboardArn": arn}


# API Gateway (stored in moto; the local gateway serves the traffic)


@handles("aws:apigatewayv2/api:Api")
def _api(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    api = mocks.client("apigatewayv2").create_api(
        Name=mocks.physical(name), ProtocolType=inputs["protocolType"]
    )
    port = mocks.api_ports[name]
    return api["ApiId"], {
        **inputs,
        "apiEndpoint": f"http://127.0.0.1:{port}",
        "executionArn": f"arn:aws:execute-api:{mocks.region}:{ACCOUNT}:{api['ApiId']}",
    }


@handles("aws:apigatewayv2/integration:Integration")
def _integration(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    optional = {
        "PayloadFormatVersion": inputs.get("payloadFormatVersion"),
        "TimeoutInMillis": _whole(inputs.get("timeoutMilliseconds")),
        "IntegrationMethod": inputs.get("integrationMethod"),
        "Description": inputs.get("description"),
    }
    created = mocks.client("apigatewayv2").create_integration(
        ApiId=inputs["apiId"],
        IntegrationType=inputs["integrationType"],
        IntegrationUri=inputs["integrationUri"],
        **{key: value for key, value in optional.items() if value is not None},
    )
    return created["IntegrationId"], inputs


@handles(
    "aws:apigatewayv2/route:Route",
    "aws:apigatewayv2/authorizer:Authorizer",
    "aws:apigatewayv2/stage:Stage",
    "aws:apigatewayv2/apiMapping:ApiMapping",
)
def _api_part(mocks: MotoMocks, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return hashlib.sha256(f"{mocks.stack}/{name}".encode()).hexdigest()[:7], inputs


def deploy(
    stack: str,
    endpoint: str,
    api_ports: dict[str, int],
    config: dict[str, str],
    secrets: list[str],
    credentials: Credentials = UNENFORCED_CREDENTIALS,
    earlier: EarlierStacks | None = None,
    root: Path = program.ROOT,
) -> dict[str, Any]:
    """Deploy root's program (by default this repository's) for `stack` into moto, as
    `credentials`: after the stacks before it, or beside them (`earlier`)."""
    mocks = MotoMocks(stack, config.get("aws:region", stack), endpoint, api_ports, credentials, earlier)
    monitor = program.run(stack, mocks, config, secrets, root)
    return {
        "stack": stack,
        "region": mocks.region,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "id": r.id,
                "inputs": program.plain(r.inputs),
                "outputs": program.plain(r.outputs),
            }
            for r in sorted(monitor.graph, key=lambda resource: resource.urn)
        ],
        "notEmulated": sorted(mocks.not_emulated, key=lambda item: item["type"]),
        "taps": mocks.taps,
    }


# The services this module's handlers call: their models are loaded by preload().
SERVICES = (
    "apigatewayv2", "cloudwatch", "cognito-idp", "dynamodb", "events", "iam", "kinesis", "kms",
    "lambda", "logs", "s3", "sns", "sqs", "ssm", "sts",
)  # fmt: skip
_preloaded: list[Any] = []  # the botocore session preload() loaded the models into


def _botocore_session() -> Any:
    """The preloaded botocore session, or a new one."""
    import botocore.session

    return _preloaded[0] if _preloaded else botocore.session.get_session()


def preload() -> None:
    """Import the program's components, the pulumi_aws modules they name and the resource and
    function modules in them they name (pulumi_aws loads each service's package on first use,
    and each of its resource modules on first use of the name: about 2 s of CPU for this
    program's), and load the service models, endpoint rule sets and paginators of SERVICES into
    the session the deployment's clients will come from (about 50 ms a service), so the
    deployment itself spends no time on either."""
    root = Path(__file__).resolve().parent.parent
    sources = [root / "__main__.py", *sorted((root / "components").glob("*.py"))]
    modules = {f"components.{path.stem}" for path in sources[1:] if path.stem != "__init__"}
    named = {
        pair
        for path in sources
        for pair in re.findall(r"\baws\.([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)", path.read_text())
    }
    for module in sorted(modules):
        importlib.import_module(module)
    for service, name in sorted(named):
        if importlib.util.find_spec(f"pulumi_aws.{service}"):
            getattr(importlib.import_module(f"pulumi_aws.{service}"), name, None)  # loads its module
    import botocore.session

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    for service in SERVICES:
        for kind in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            loader.load_service_model(service, kind)
    session.get_component("endpoint_resolver")  # endpoints.json and partitions.json
    _preloaded.append(session)


def deploy_to_file(
    stack: str,
    moto: str,
    ports: dict[str, int],
    settings: dict[str, Any],
    out: Path,
    principals: Path | None,
    earlier: EarlierStacks | None = None,
) -> int:
    """Deploy `stack` and write its graph to `out`: 0, or 1 with the error on stderr."""
    admin = Principals.load(principals).admin if principals else UNENFORCED_CREDENTIALS
    try:
        graph = deploy(stack, moto, ports, settings["config"], settings["secrets"], admin, earlier)
    except (pulumi.RunError, validation.Refused) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(graph, indent=1))
    return 0


def serve() -> None:
    """Preload, read every stack stdin asks for (a line each, JSON: stack, moto, ports, settings,
    out, principals, log; the first is the primary) until it ends, then deploy them all at once,
    each in a child forked from this process, and answer a line for each (JSON: stack,
    returncode) in their order as they end. A child's output goes to its `log`. Each child is
    told when the stacks before it have ended (``EarlierStacks``, through a pipe this process
    closes then): its reads of what they publish wait until then. This process runs no thread
    and no Pulumi runtime when it forks: each child starts from the imports alone, with a
    runtime of its own."""
    preload()
    requests = [json.loads(line) for line in sys.stdin if line.strip()]
    children: list[tuple[int, int]] = []  # (pid, the write end of its earlier-stacks pipe)
    for request in requests:
        told, tell = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child ends in os._exit, which coverage never sees
            for fd in (tell, *(other for _, other in children)):
                os.close(fd)  # its own pipe's write end, and the others': only this process closes them
            _deploy_child(request, EarlierStacks.listening(told))
        os.close(told)
        children.append((child, tell))
    # Closing a child's pipe tells it that every stack before it has ended; the first has none.
    if children:
        os.close(children[0][1])
    for index, (child, _) in enumerate(children):
        _, status = os.waitpid(child, 0)
        reply = {"stack": requests[index]["stack"], "returncode": os.waitstatus_to_exitcode(status)}
        print(json.dumps(reply), flush=True)
        if index + 1 < len(children):
            os.close(children[index + 1][1])  # every stack before it has ended
    # An interpreter's finalization of all those modules took half a second of the local
    # cloud's start, which waits for this process to end.
    os._exit(0)


def _deploy_child(request: dict[str, Any], earlier: EarlierStacks) -> NoReturn:  # pragma: no cover
    """A forked child's deployment of one stack: its output to its log, its end in os._exit."""
    code = 1
    try:
        with open(request["log"], "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        principals = Path(request["principals"]) if request.get("principals") else None
        code = deploy_to_file(
            request["stack"], request["moto"], request["ports"], request["settings"], Path(request["out"]),
            principals, earlier,
        )  # fmt: skip
    except BaseException:  # noqa: BLE001 - the child must reach os._exit, with the cause logged
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description="Deploy one stack into moto")
    parser.add_argument("stack", nargs="?")
    parser.add_argument("--moto")
    parser.add_argument("--ports", help="JSON: API logical name -> local port")
    parser.add_argument("--config", help="JSON: {config: {...}, secrets: [...]}")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--principals", type=Path, help="the local cloud's principals (its admin deploys)")
    parser.add_argument("--serve", action="store_true", help="preload, then deploy the stacks stdin asks for")
    options = parser.parse_args()
    if options.serve:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        serve()
        return
    if not (options.stack and options.moto and options.ports and options.config and options.out):
        parser.error("a stack, --moto, --ports, --config and --out are required (or --serve)")
    code = deploy_to_file(
        options.stack, options.moto, json.loads(options.ports), json.loads(options.config), options.out,
        options.principals,
    )  # fmt: skip
    raise SystemExit(code)


if __name__ == "__main__":
    main()
