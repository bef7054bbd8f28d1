"""Adding a region is one new stack file: its graph is complete and no other stack changes."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tools import plan

from .graphs import PROJECT, ROOT, THIRD_REGION, synthesize


def test_third_region_synthesizes_with_its_own_replica_and_registration(graphs):
    third = graphs[THIRD_REGION]
    replica = third.one("aws:dynamodb/tableReplica:TableReplica")
    assert replica["inputs"]["globalTableArn"].startswith("arn:aws:dynamodb:us-east-1:")
    registration = [
        p
        for p in third.of_type("aws:ssm/parameter:Parameter")
        if p["inputs"]["name"] == f"/{PROJECT}/regions/{THIRD_REGION}"
    ]
    assert registration and registration[0]["inputs"]["region"] == "us-east-1"
    user_api = third.one("aws:apigatewayv2/api:Api", "user-http")
    assert json.loads(registration[0]["inputs"]["insecureValue"])["api"] == user_api["outputs"]["apiEndpoint"]
    assert third.of_type("aws:cognito/userPool:UserPool") == []


def test_third_region_with_a_domain_gets_a_health_checked_latency_record(graphs):
    third = graphs[THIRD_REGION]
    record = third.one("aws:route53/record:Record", "failover-latency")
    assert record["inputs"]["setIdentifier"] == THIRD_REGION
    assert record["inputs"]["latencyRoutingPolicies"] == [{"region": THIRD_REGION}]
    check = third.one("aws:route53/healthCheck:HealthCheck")
    assert record["inputs"]["healthCheckId"] == check["id"]
    user_api = third.one("aws:apigatewayv2/api:Api", "user-http")
    assert check["inputs"]["fqdn"] == user_api["outputs"]["apiEndpoint"].removeprefix("https://")


def test_adding_a_region_changes_no_other_stack(graphs):
    # The existing stacks' graphs, synthesized again after the new stack exists, are identical.
    again = synthesize(["us-east-1", "us-west-2"], "--details")
    for stack in ("us-east-1", "us-west-2"):
        assert again[stack]["resources"] == graphs[stack].resources, stack


@pytest.fixture(scope="module")
def with_stack_file(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every stack of this project with a new region's stack file beside Pulumi.yaml, holding its
    region alone, as an operator adds it: the working tree's files copied, its built packages linked."""
    root = tmp_path_factory.mktemp("three") / "project"
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    plan.seed_build(ROOT, root)
    (root / f"Pulumi.{THIRD_REGION}.yaml").write_text(f"config:\n  aws:region: {THIRD_REGION}\n")
    return plan.synthesize(root, ["us-east-1", "us-west-2", THIRD_REGION])


def _entries(graph: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Registry entries by (region written in, region named): the registry and its copies."""
    return {
        (p["inputs"].get("region") or graph["stack"], p["inputs"]["name"].rsplit("/", 1)[-1]): p["urn"]
        for p in graph["resources"]
        if p["type"] == "aws:ssm/parameter:Parameter"
        and p["inputs"]["name"].startswith(f"/{PROJECT}/regions/")
    }


def test_a_stack_file_alone_adds_a_region_to_every_stacks_regions(with_stack_file):
    for stack, graph in with_stack_file.items():
        dashboard = next(r for r in graph["resources"] if r["type"] == "aws:cloudwatch/dashboard:Dashboard")
        # The replication-latency widget draws every other region's (components.monitoring).
        receiving = {
            metric[metric.index("ReceivingRegion") + 1]
            for widget in json.loads(dashboard["inputs"]["dashboardBody"])["widgets"]
            for metric in widget["properties"].get("metrics", [])
            if "ReceivingRegion" in metric
        }
        assert receiving == {"us-east-1", "us-west-2", THIRD_REGION} - {stack}, stack


def test_each_registry_entry_has_one_owner_and_every_secondary_copy_names_the_others(with_stack_file):
    owners: dict[tuple[str, str], list[str]] = {}
    for stack, graph in with_stack_file.items():
        for key in _entries(graph):
            owners.setdefault(key, []).append(stack)
    assert all(len(stacks) == 1 for stacks in owners.values()), owners
    regions = ("us-east-1", "us-west-2", THIRD_REGION)
    # The registry in the primary, and in each secondary a copy naming every region.
    assert set(owners) == {(written, named) for written in regions for named in regions}
    # An entry in another secondary's copy is its own region's (so a region added later reaches the
    # copies of those deployed before it); the primary's entry in a copy is the copy's own.
    assert owners[("us-west-2", THIRD_REGION)] == [THIRD_REGION]
    assert owners[(THIRD_REGION, "us-west-2")] == ["us-west-2"]
    assert owners[(THIRD_REGION, "us-east-1")] == [THIRD_REGION]


def test_adding_a_stack_file_asks_the_existing_stacks_for_no_change_but_these(with_stack_file, graphs):
    """The new region works with the existing stacks as deployed; their next `pulumi up` only adds
    the new region to their dashboard and to their writer's replicas (its environment and its read
    of a late event's guard there) and, in a secondary, writes its entry into the new copy."""
    for stack in ("us-east-1", "us-west-2"):
        before = {"stack": stack, "resources": graphs[stack].resources}
        changed = plan.plan_stack(stack, before, with_stack_file[stack]).changed
        expected = {
            ("update", "aws:cloudwatch/dashboard:Dashboard"),
            ("update", "aws:lambda/function:Function"),
            ("update", "aws:iam/rolePolicy:RolePolicy"),
        }
        if stack == "us-west-2":
            expected.add(("create", "aws:ssm/parameter:Parameter"))
        assert {(step.action, step.type) for step in changed} == expected, stack


def test_the_user_pools_one_replica_stays_in_us_west_2_and_the_new_region_signs_in_at_the_primary(
    with_stack_file,
):
    """Cognito allows one secondary replica per user pool (components.settings)."""
    for stack, graph in with_stack_file.items():
        replicas = [
            r
            for r in graph["resources"]
            if r["type"] == "pulumi-python:dynamic:Resource" and r["inputs"].get("kind") == "UserPoolReplica"
        ]
        assert [r["inputs"]["regionName"] for r in replicas] == (
            ["us-west-2"] if stack == "us-west-2" else []
        )
        (login,) = [
            r
            for r in graph["resources"]
            if r["type"] == "aws:lambda/function:Function" and r["inputs"]["handler"] == "login.app.handler"
        ]
        expected = "us-west-2" if stack == "us-west-2" else "us-east-1"
        assert login["inputs"]["environment"]["variables"]["USER_POOL_REGION"] == expected, stack
