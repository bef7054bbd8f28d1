"""Resource policies as AWS evaluates them (localcloud.iam.policy, localcloud.iam.deliveries):
a function's invoke permissions, queue, topic and key policies, each for the service and the
source that delivers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.iam import deliveries, policy
from localcloud.settings import ACCOUNT

REGION = "us-east-1"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:app-writer"
RULE = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/app-bus/app-clicks"
API = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:app-dlq"


def _permission(principal: str, source_arn: str | None, **inputs: Any) -> dict[str, Any]:
    return {
        "name": f"permit-{principal}",
        "inputs": {"function": "app-writer", "principal": principal, "sourceArn": source_arn, **inputs},
    }


def _may_invoke(permissions: list[dict[str, Any]], service: str, source_arn: str) -> bool:
    document = deliveries.function_policy(permissions, "app-writer", FUNCTION)
    return deliveries.allows(document, service, "lambda:InvokeFunction", FUNCTION, source_arn)


def test_a_function_may_be_invoked_by_the_service_and_source_its_permission_names() -> None:
    permissions = [_permission("events.amazonaws.com", RULE)]
    assert _may_invoke(permissions, "events.amazonaws.com", RULE)
    assert not _may_invoke(permissions, "events.amazonaws.com", RULE.replace("app-clicks", "other"))
    assert not _may_invoke(permissions, "sns.amazonaws.com", RULE)
    assert not _may_invoke([], "events.amazonaws.com", RULE)


def test_an_api_permission_with_wildcards_matches_every_stage_method_and_path() -> None:
    permissions = [_permission("apigateway.amazonaws.com", f"{API}/*/*")]
    assert _may_invoke(permissions, "apigateway.amazonaws.com", f"{API}/$default/POST/click")
    assert _may_invoke(permissions, "apigateway.amazonaws.com", f"{API}/$default/GET/regions/{{id}}")
    assert not _may_invoke(permissions, "apigateway.amazonaws.com", f"{API}x/$default/POST/click")
    assert not _may_invoke(permissions, "apigateway.amazonaws.com", f"{API}/$default")


def test_a_qualified_permission_does_not_allow_the_unqualified_function() -> None:
    permissions = [_permission("apigateway.amazonaws.com", f"{API}/*/*", qualifier="live")]
    assert not _may_invoke(permissions, "apigateway.amazonaws.com", f"{API}/$default/POST/click")
    document = deliveries.function_policy(permissions, "app-writer", FUNCTION)
    live = f"{FUNCTION}:live"
    source = f"{API}/$default/POST/click"
    assert deliveries.allows(document, "apigateway.amazonaws.com", "lambda:InvokeFunction", live, source)


def _queue_policy(condition: dict[str, Any]) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        "Condition": condition,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_queue_policy_allows_only_the_rule_it_names() -> None:
    document = _queue_policy({"ArnEquals": {"aws:SourceArn": RULE}})
    assert deliveries.allows(document, "events.amazonaws.com", "sqs:SendMessage", QUEUE, RULE)
    assert not deliveries.allows(document, "events.amazonaws.com", "sqs:SendMessage", QUEUE, RULE + "x")
    assert not deliveries.allows(None, "events.amazonaws.com", "sqs:SendMessage", QUEUE, RULE)


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = json.loads(_queue_policy({"ArnEquals": {"aws:SourceArn": RULE}}))
    deny = {
        **allow["Statement"][0],
        "Effect": "Deny",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    document = {"Statement": [allow["Statement"][0], deny]}
    assert not deliveries.allows(document, "events.amazonaws.com", "sqs:SendMessage", QUEUE, RULE)


def test_a_missing_condition_key_matches_only_if_exists_and_negated_operators() -> None:
    caller = policy.Caller(account=ACCOUNT, service="events.amazonaws.com")
    request = policy.Request("sqs:SendMessage", QUEUE, caller, {})
    for operator, matches in [("ArnLike", False), ("ArnLikeIfExists", True), ("ArnNotLike", True)]:
        document = _queue_policy({operator: {"aws:SourceArn": RULE}})
        decision = policy.evaluate([document], request, resource_policy=True)
        assert (decision is policy.Decision.ALLOW) is matches, operator


def test_an_operator_the_local_cloud_does_not_evaluate_is_refused_not_guessed() -> None:
    document = _queue_policy({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
    caller = policy.Caller(account=ACCOUNT, service="events.amazonaws.com")
    request = policy.Request("sqs:SendMessage", QUEUE, caller, {"aws:CurrentTime": "2026-01-01T00:00:00Z"})
    with pytest.raises(policy.UnsupportedCondition, match="DateGreaterThan"):
        policy.evaluate([document], request, resource_policy=True)


def test_in_a_key_policy_the_account_delegates_to_iam_and_allows_nobody_by_itself() -> None:
    key_policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    }
    role = policy.Caller(account=ACCOUNT, arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/app-slack/session")
    request = policy.Request("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k", role)
    direct = policy.evaluate([key_policy], request, resource_policy=True, account_means_everyone=False)
    assert direct is policy.Decision.IMPLICIT_DENY
    assert policy.delegates_to_iam(key_policy, "kms:Decrypt", ACCOUNT)
    # A statement naming the role (a session of it calls) allows by the key policy alone.
    key_policy["Statement"][0]["Principal"] = {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app-slack"}
    direct = policy.evaluate([key_policy], request, resource_policy=True, account_means_everyone=False)
    assert direct is policy.Decision.ALLOW
    assert not policy.delegates_to_iam(key_policy, "kms:Decrypt", ACCOUNT)
