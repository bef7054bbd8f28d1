"""IAM on every call, end to end: a function runs as its execution role and nothing more. The
writer without its DynamoDB write actions (as a stack deployed from a copy of the program with
them removed would have it) accepts the click, counts nothing, and the dead letter alert in
Slack names the AccessDenied it got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .cloud import http, wait_for

pytestmark = pytest.mark.e2e


def _role_policy(cloud: Any, region: str, name: str) -> tuple[str, str, dict[str, Any]]:
    """The deployed role policy `name` (its Pulumi name) in `region`: role, policy name, document."""
    graph = json.loads((cloud.state_dir / region / "graph.json").read_text())
    [policy] = [
        r for r in graph["resources"] if r["type"] == "aws:iam/rolePolicy:RolePolicy" and r["name"] == name
    ]
    return policy["inputs"]["role"], policy["outputs"]["name"], json.loads(policy["inputs"]["policy"])


@pytest.fixture
def writer_without_dynamodb_writes(cloud: Any) -> Iterator[None]:
    """The us-east-1 writer's role policy with every statement granting DynamoDB actions removed,
    put back afterwards: what deploying a copy of the program without them does to IAM."""
    iam = cloud.aws("iam", "us-east-1")
    role, name, document = _role_policy(cloud, "us-east-1", "events-writer-policy")

    def dynamodb(statement: dict[str, Any]) -> bool:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        return any(action.startswith("dynamodb:") for action in actions)

    kept = [statement for statement in document["Statement"] if not dynamodb(statement)]
    assert len(kept) < len(document["Statement"]), "the writer's policy grants no DynamoDB action"
    iam.put_role_policy(
        RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept})
    )
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def test_writer_without_dynamodb_writes_counts_no_click_and_slack_names_access_denied(
    cloud: Any, writer_without_dynamodb_writes: None
) -> None:
    token = cloud.token("us-east-1", cloud.new_user())
    before = len(cloud.inbox())
    reply = http("POST", f"{cloud.api('us-east-1')}/click", {}, {"authorization": f"Bearer {token}"})
    assert reply.status == 200, reply.body  # accepted: the click function may still put the event
    event_id = reply.json()["eventId"]

    alert = wait_for(
        lambda: next((m for m in cloud.inbox()[before:] if event_id in json.dumps(m)), None), timeout=60
    )
    assert alert is not None, f"no dead letter alert for click {event_id} reached Slack within 60 s"
    assert "Dead event in us-east-1" in alert["text"]
    assert "AccessDeniedException" in alert["text"]
    assert "dynamodb:PutItem" in alert["text"]
    assert cloud.views("us-east-1", token) == 0
