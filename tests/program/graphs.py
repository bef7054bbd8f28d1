"""The synthesized resource graphs the program's tests read: each stack synthesized in its own
process (Pulumi's runtime keeps global state), with ids and outputs so wiring can be followed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "active-active"
# A third region, added by a new stack file alone; it also exercises the custom-domain path.
THIRD_REGION = "eu-west-1"
THIRD_STACK_FILE = f"""config:
  aws:region: {THIRD_REGION}
  {PROJECT}:regions: ["us-east-1", "us-west-2", "{THIRD_REGION}"]
  {PROJECT}:domainName: app.example.com
  {PROJECT}:hostedZoneId: Z0123456789ABCDEFGHIJ
"""
# Both regions again with every optional feature on, so the rules also check what they add: a
# custom domain, provisioned concurrency (instead of SnapStart) and the shortest archive
# retention. Graphs keyed "<stack>+features".
FEATURES = {
    "domainName": "app.example.com",
    "hostedZoneId": "Z0123456789ABCDEFGHIJ",
    "provisionedConcurrency": "1",
    # SnapStart and provisioned concurrency exclude each other: the default stacks check SnapStart.
    "snapStart": "false",
    "archiveRetentionDays": "30",
    # Cognito replication off: the single-region pool, every authorizer on the primary's issuer.
    "userPoolReplication": "false",
}
FEATURE_STACKS = ("us-east-1", "us-west-2")


# Provider settings an operator may set in a stack file; the stack's explicit provider must keep them.
AWS_FEATURES = {"profile": "deployer", "allowedAccountIds": '["123456789012"]'}


def feature_stack_file(stack: str) -> str:
    values = "".join(f"  {PROJECT}:{key}: {value!r}\n" for key, value in FEATURES.items())
    provider = "".join(f"  aws:{key}: {value!r}\n" for key, value in AWS_FEATURES.items())
    return f"config:\n  aws:region: {stack}\n{values}{provider}"


@dataclass
class Graph:
    """One stack's synthesized resources, with look-ups the tests share."""

    stack: str
    resources: list[dict[str, Any]]

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [resource for resource in self.resources if resource["type"] == typ]

    def one(self, typ: str, name_part: str = "") -> dict[str, Any]:
        found = [resource for resource in self.of_type(typ) if name_part in resource["name"]]
        assert len(found) == 1, f"{self.stack}: expected one {typ} named *{name_part}*, found {len(found)}"
        return found[0]

    def by_id(self, resource_id: str) -> dict[str, Any]:
        found = [resource for resource in self.resources if resource.get("id") == resource_id]
        assert found, f"{self.stack}: no resource with id {resource_id}"
        return found[0]

    def function(self, source: str) -> dict[str, Any]:
        found = [
            resource
            for resource in self.of_type("aws:lambda/function:Function")
            if resource["inputs"]["handler"] == f"{source}.app.handler"
        ]
        assert len(found) == 1, f"{self.stack}: expected one function for functions/{source}"
        return found[0]

    def function_for(self, reference: str) -> dict[str, Any]:
        """The function a name, ARN or invoke ARN names, its own or its alias's (provisioned
        concurrency puts the alias between a function and its callers)."""
        keys = ("name", "arn", "invokeArn")
        for alias in self.of_type("aws:lambda/alias:Alias"):
            if reference in (alias["outputs"].get(key) for key in keys):
                reference = alias["inputs"]["functionName"]
        found = [
            function
            for function in self.of_type("aws:lambda/function:Function")
            if reference in (function["outputs"].get(key) for key in keys)
        ]
        assert len(found) == 1, f"{self.stack}: expected one function named by {reference}"
        return found[0]

    def invoke_arn_of(self, function: dict[str, Any]) -> str:
        """What an API integration must invoke: the function's alias `live` where it has one (a
        published version: SnapStart or provisioned concurrency), else the function."""
        for alias in self.of_type("aws:lambda/alias:Alias"):
            if alias["inputs"]["functionName"] == function["outputs"]["name"]:
                return alias["outputs"]["invokeArn"]
        return function["outputs"]["invokeArn"]

    def role_policy_of(self, function: dict[str, Any]) -> dict[str, Any]:
        """The inline policy of a function's execution role."""
        (role,) = [
            r for r in self.of_type("aws:iam/role:Role") if r["outputs"]["arn"] == function["inputs"]["role"]
        ]
        found = [
            p for p in self.of_type("aws:iam/rolePolicy:RolePolicy") if p["inputs"]["role"] == role["id"]
        ]
        assert len(found) == 1, f"{self.stack}: expected one policy on {role['urn']}"
        return found[0]

    def children_of(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        return [resource for resource in self.resources if resource["parent"] == parent["urn"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether a policy document allows the action on the resource (IAM's `*` and `?` wildcards;
    action names ignore case). Conditions are not evaluated."""
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement["Action"]))
        and any(fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"]))
        for statement in as_list(policy["Statement"])
    )


def synthesize(
    stacks: list[str], *extra: str, stack_files: dict[str, Path] | None = None
) -> dict[str, dict[str, Any]]:
    """Each graph by its label: a stack name, or a key of `stack_files` whose file names the stack
    as Pulumi names stack files (``Pulumi.<stack>.yaml``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stack_files = stack_files or {}
    processes = {
        label: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.synth",
                stack_files[label].name.removeprefix("Pulumi.").removesuffix(".yaml")
                if label in stack_files
                else label,
                *extra,
                *(["--stack-file", str(stack_files[label])] if label in stack_files else []),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in stacks
    }
    graphs = {}
    for label, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"synth {label} failed:\n{err[-3000:]}"
        graphs[label] = json.loads(out)
    return graphs
