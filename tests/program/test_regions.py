"""Adding a region is one new stack file: its graph is complete and no other stack changes."""

from __future__ import annotations

import json

from .graphs import PROJECT, THIRD_REGION, synthesize


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
