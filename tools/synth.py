"""``make synth STACK=<region>``: the stack's resource graph as JSON, offline.

Runs the real program under Pulumi's mocks with fake but well-formed outputs (ids, ARNs,
URLs), so every input that depends on another resource resolves. Output shape:
``{"stack", "resources": [{"urn", "type", "name", "parent", "inputs"}]}``, inputs camelCase as
Pulumi passes them, secrets as "[secret]". With ``--details`` each resource also has its ``id``,
``outputs``, ``dependencies``, ``provider``, ``aliases``, ``protect``, ``retainOnDelete``,
``ignoreChanges`` and ``replaceOnChanges``, named as in Pulumi's state, and the graph has the
stack's ``outputs`` and its ``lookups``: the SSM parameters the program reads
(``{"name", "region", "value"}``). ``--root <dir>`` runs the program checked out in <dir> (``make plan``
runs an older commit's program this way) with this synth.

A secondary stack's look-ups of the primary's SSM parameters answer with well-formed values
unless ``--primary-missing`` is given (then they fail, as before the primary is deployed).
Required secrets missing from the stack file get placeholders: they are redacted anyway.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pulumi

from components.settings import default_primary, project_regions

# The account the mocks report: the local cloud's (moto's), so ARNs read the same in both.
from localcloud.settings import ACCOUNT
from tools import program

PLACEHOLDER_SECRETS = {
    "slackSigningSecret": "0123456789abcdef0123456789abcdef",
    "slackWebhookUrl": "https://hooks.slack.com/services/T00000000/B00000000/synth",
}


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:7]


# AWS's own public parameters (the FIS Lambda extension's layer ARN) exist in every account.
PUBLIC_PARAMETERS = "/aws/service/"


def public_parameter(name: str, region: str) -> str:
    """A stand-in for an AWS public parameter's value: a layer ARN in an account of AWS's."""
    layer = name.removeprefix(PUBLIC_PARAMETERS).split("/")[-2].lower()
    return f"arn:aws:lambda:{region}:000000000000:layer:{layer}:1"


class SynthMocks(pulumi.runtime.Mocks):
    """Fake outputs shaped like AWS's, derived from each resource's logical name."""

    def __init__(
        self, region: str, primary_region: str, primary_missing: bool = False, project: str = program.PROJECT
    ) -> None:
        self.region = region
        self.primary_region = primary_region
        self.primary_missing = primary_missing
        self.project = project
        self.lookups: list[dict[str, str]] = []

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        token = args.token
        if token == "aws:index/getRegion:getRegion":
            return {"region": self.region, "name": self.region, "id": self.region}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{ACCOUNT}:user/synth"
            return {"accountId": ACCOUNT, "arn": arn, "userId": "AIDASYNTH", "id": ACCOUNT}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:ssm/getParameter:getParameter":
            name = args.args["name"]
            lookup = {"name": name, "region": args.args.get("region") or self.region}
            self.lookups.append(lookup)
            if self.primary_missing:
                raise RuntimeError(f"ParameterNotFound: {name}")
            lookup["value"] = self._published(name)
            return {"name": name, "value": lookup["value"], "type": "String", "id": name}
        raise NotImplementedError(f"no synth answer for invoke {token}")

    def _published(self, name: str) -> str:
        if name.startswith(PUBLIC_PARAMETERS):
            return public_parameter(name, self.region)
        key = name.rsplit("/", 1)[-1]
        if name == f"/{self.project}/regions/{key}":  # a region's registry entry, as it registers it
            return json.dumps(
                {
                    "api": f"https://user-api.execute-api.{key}.amazonaws.com",
                    "slackApi": f"https://slack-api.execute-api.{key}.amazonaws.com",
                },
                sort_keys=True,
            )
        table = f"{self.project}-table-{_suffix('data-table')}"
        return {
            "user-pool-id": f"{self.primary_region}_Synth0000",
            "user-pool-client-id": "synthclientid0000000000000",
            "table-name": table,
            "table-arn": f"arn:aws:dynamodb:{self.primary_region}:{ACCOUNT}:table/{table}",
        }[key]

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return fake_outputs(args.typ, args.name, dict(args.inputs), self.region)


def fake_outputs(typ: str, name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    """An id and outputs shaped like the real resource's."""
    physical = inputs.get("name") or f"{name}-{_suffix(name)}"
    if "namePrefix" in inputs:
        physical = f"{inputs['namePrefix']}{_suffix(name)}"
    service = typ.split(":")[1].split("/", maxsplit=1)[0]
    arn = f"arn:aws:{service}:{region}:{ACCOUNT}:{physical}"
    outputs = {**inputs, "name": physical, "arn": arn}
    resource_id = physical
    kind = typ.rsplit(":", maxsplit=1)[-1]
    if typ == "aws:s3/bucket:Bucket":
        bucket = physical.lower()
        outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
        resource_id = bucket
    elif typ == "aws:lambda/function:Function":
        arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{physical}"
        outputs.update(
            arn=arn,
            version="1",
            invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
    elif typ == "aws:lambda/alias:Alias":
        # The function's ARN qualified by the alias name, as Lambda names an alias.
        arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{inputs['functionName']}:{physical}"
        outputs.update(
            arn=arn,
            invokeArn=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
    elif typ == "aws:lambda/layerVersion:LayerVersion":
        outputs["arn"] = f"arn:aws:lambda:{region}:{ACCOUNT}:layer:{inputs['layerName']}:1"
    elif typ == "aws:apigatewayv2/api:Api":
        resource_id = _suffix(name)[:6] + "api"
        outputs.update(
            apiEndpoint=f"https://{resource_id}.execute-api.{region}.amazonaws.com",
            executionArn=f"arn:aws:execute-api:{region}:{ACCOUNT}:{resource_id}",
        )
    elif typ == "aws:sqs/queue:Queue":
        outputs.update(
            arn=f"arn:aws:sqs:{region}:{ACCOUNT}:{physical}",
            url=f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{physical}",
        )
    elif typ == "aws:cognito/userPool:UserPool":
        resource_id = f"{region}_{_suffix(name)}"
        outputs["arn"] = f"arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{resource_id}"
    elif typ == "aws:dynamodb/table:Table":
        outputs.update(
            arn=f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{physical}",
            streamArn=f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{physical}/stream/2026-01-01T00:00:00.000",
        )
    elif typ == "aws:dynamodb/tableReplica:TableReplica":
        table = str(inputs["globalTableArn"]).rsplit("/", 1)[-1]
        outputs["arn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"
    elif typ in (
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ssm/parameter:Parameter",
        "aws:kinesis/stream:Stream",
    ):
        prefix = {"LogGroup": "log-group:", "Parameter": "parameter", "Stream": "stream/"}[kind]
        service_name = {"LogGroup": "logs", "Parameter": "ssm", "Stream": "kinesis"}[kind]
        target_region = inputs.get("region") or region
        outputs["arn"] = f"arn:aws:{service_name}:{target_region}:{ACCOUNT}:{prefix}{physical}"
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        outputs["arn"] = f"arn:aws:events:{region}:{ACCOUNT}:rule/{inputs.get('eventBusName')}/{physical}"
    elif typ == "aws:cloudwatch/eventBus:EventBus":
        outputs["arn"] = f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{physical}"
    elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        outputs["arn"] = f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{physical}"
    elif typ == "aws:iam/role:Role":
        outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{physical}"
    elif typ == "aws:sns/topic:Topic":
        outputs["arn"] = f"arn:aws:sns:{region}:{ACCOUNT}:{physical}"
        resource_id = outputs["arn"]
    elif typ == "aws:kms/key:Key":
        resource_id = f"{_suffix(name)}-0000-4000-8000-000000000000"
        outputs.update(keyId=resource_id, arn=f"arn:aws:kms:{region}:{ACCOUNT}:key/{resource_id}")
    elif typ == "aws:cloudwatch/dashboard:Dashboard":
        outputs["dashboardArn"] = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{inputs['dashboardName']}"
    elif typ == "aws:acm/certificate:Certificate":
        outputs["domainValidationOptions"] = [
            {
                "domainName": inputs["domainName"],
                "resourceRecordName": f"_{_suffix(name)}.{inputs['domainName']}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_suffix(name)}.acm-validations.aws.",
            }
        ]
    elif typ == "aws:acm/certificateValidation:CertificateValidation":
        outputs["certificateArn"] = inputs["certificateArn"]
    elif typ == "aws:apigatewayv2/domainName:DomainName":
        outputs["domainNameConfiguration"] = {
            **inputs["domainNameConfiguration"],
            "targetDomainName": f"d-{_suffix(name)}.execute-api.{region}.amazonaws.com",
            "hostedZoneId": "Z1UJRXOUMOOFQ8",
        }
    elif typ == "aws:route53/record:Record":
        outputs["fqdn"] = inputs.get("name")
    return resource_id, outputs


def primary_of(regions: str | None, region: str, root: Path) -> str:
    """The primary region the program will take (components.settings), for the look-ups' answers; a
    bad value is left for the program to report."""
    if regions is None:
        found = tuple(sorted({*project_regions(root), region}))
        return default_primary(found, explicit=False) or region
    listed = json.loads(regions) if regions.strip().startswith("[") else regions.split(",")
    return str(listed[0]).strip() if listed else region


def synthesize(
    stack: str,
    primary_missing: bool = False,
    details: bool = False,
    stack_file: Path | None = None,
    root: Path = program.ROOT,
) -> dict[str, Any]:
    project = program.project_name(root)
    config, secret_keys = program.stack_config(stack, stack_file, root)
    for key, value in PLACEHOLDER_SECRETS.items():
        full_key = f"{project}:{key}"
        if full_key not in config:
            config[full_key] = value
            secret_keys.append(full_key)
    region = config.get("aws:region", stack)
    primary = config.get(f"{project}:primaryRegion") or primary_of(
        config.get(f"{project}:regions"), region, root
    )
    mocks = SynthMocks(region, primary, primary_missing, project)
    monitor = program.run(stack, mocks, config, secret_keys, root)
    resources = sorted(monitor.graph, key=lambda resource: resource.urn)
    graph: dict[str, Any] = {
        "stack": stack,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent,
                "inputs": program.plain(resource.inputs, root),
                **(
                    {
                        "id": resource.id,
                        "outputs": program.plain(resource.outputs, root),
                        "dependencies": resource.dependencies,
                        "provider": resource.provider,
                        "aliases": resource.aliases,
                        "protect": resource.protect,
                        "retainOnDelete": resource.retain_on_delete,
                        "ignoreChanges": resource.ignore_changes,
                        "replaceOnChanges": resource.replace_on_changes,
                    }
                    if details
                    else {}
                ),
            }
            for resource in resources
        ],
    }
    if details:
        graph["outputs"] = program.plain(monitor.stack_outputs, root)
        unique = {(lookup["region"], lookup["name"]): lookup for lookup in mocks.lookups}
        graph["lookups"] = [unique[key] for key in sorted(unique)]
    return graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="stack name (= region), e.g. us-east-1")
    parser.add_argument(
        "--primary-missing", action="store_true", help="the primary's SSM parameters are absent"
    )
    parser.add_argument(
        "--details", action="store_true", help="also print each resource's id, outputs and options"
    )
    parser.add_argument("--stack-file", type=Path, help="read config from this file, not Pulumi.<stack>.yaml")
    parser.add_argument(
        "--root", type=Path, default=program.ROOT, help="run the program checked out in this folder"
    )
    options = parser.parse_args()
    try:
        graph = synthesize(
            options.stack,
            options.primary_missing,
            options.details,
            options.stack_file,
            options.root.resolve(),
        )
    except pulumi.RunError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        # Exit now: the Pulumi runtime's half-run event loop would print noise while shutting down.
        os._exit(1)
    json.dump(graph, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
