"""Policy evaluation as AWS does it, for the policies moto does not evaluate: resource-based
policies (a function's invoke permissions, queue and topic policies, KMS key policies) and
identity policies with conditions (moto treats an Allow whose condition it cannot check as an
explicit Deny).

AWS's logic, for one policy or several evaluated together: an explicit Deny that matches wins,
otherwise an Allow that matches allows, otherwise the request is implicitly denied
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
A statement matches when its Principal (resource policies only), Action, Resource and every
Condition match the request. Conditions support the operators this program and its tests use;
any other operator is refused with an error rather than guessed at, so an evaluation here is
never more permissive than AWS's.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny
    IMPLICIT_DENY = "implicit"  # nothing allows


@dataclass(frozen=True)
class Caller:
    """Who makes the request: an IAM principal's ARN (an assumed role's session ARN is matched by
    its role's ARN too) or an AWS service principal such as ``events.amazonaws.com``."""

    account: str
    arn: str | None = None
    service: str | None = None

    def identities(self) -> set[str]:
        if self.arn is None:
            return set()
        names = {self.arn}
        # arn:aws:sts::123:assumed-role/Role/session -> arn:aws:iam::123:role/Role
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-role-session
        if ":assumed-role/" in self.arn:
            prefix, _, rest = self.arn.partition(":assumed-role/")
            role = rest.rsplit("/", 1)[0]
            names.add(prefix.replace(":sts::", ":iam::") + ":role/" + role)
        return names


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    caller: Caller
    context: Mapping[str, str | list[str]] = field(default_factory=dict)


class UnsupportedCondition(ValueError):
    """A condition operator this evaluator does not implement."""


def statements(document: str | Mapping[str, Any]) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else dict(document)
    found = parsed.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def evaluate(
    documents: Iterable[str | Mapping[str, Any]],
    request: Request,
    *,
    resource_policy: bool,
    account_means_everyone: bool = True,
) -> Decision:
    """AWS's decision over `documents` taken together (identity policies, or one resource policy).
    In a KMS key policy the account as principal does not allow anyone by itself: it delegates to
    IAM (``account_means_everyone=False``, then see ``delegates_to_iam``)."""
    allowed = False
    for document in documents:
        for statement in statements(document):
            if not _matches(statement, request, resource_policy, account_means_everyone):
                continue
            if statement.get("Effect") == "Deny":
                return Decision.DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def trusts(
    document: str | Mapping[str, Any],
    caller: str,
    service: str | None,
    account: str,
    values: Mapping[str, Any],
) -> bool:
    """Whether a role's trust policy lets `caller` (an IAM principal's ARN, or the principal of
    `service`) call sts:AssumeRole: an Allow matches and no Deny does."""
    who = Caller(account=account, service=service) if service else Caller(account=account, arn=caller)
    asked = Request("sts:AssumeRole", "*", who, values)
    return evaluate([document], asked, resource_policy=True) is Decision.ALLOW


def principal_matches(principal: Any, caller: Caller, account_means_everyone: bool = True) -> bool:
    """https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html:
    an AWS account (its id or its root ARN) stands for every principal of that account."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    if caller.service is not None:
        return caller.service in _listed(principal.get("Service", []))
    names = caller.identities()
    if account_means_everyone:
        names |= {caller.account, f"arn:aws:iam::{caller.account}:root"}
    return any(name == "*" or name in names for name in _listed(principal.get("AWS", [])))


def delegates_to_iam(document: str | Mapping[str, Any], action: str, account: str) -> bool:
    """Whether a key policy lets IAM policies decide `action`: an Allow whose principal is the
    account itself (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    root = f"arn:aws:iam::{account}:root"
    for statement in statements(document):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, Mapping):
            continue
        if any(name in (root, account) for name in _listed(principal.get("AWS", []))) and _action_matches(
            statement, action
        ):
            return True
    return False


def _matches(
    statement: Mapping[str, Any], request: Request, resource_policy: bool, account_means_everyone: bool
) -> bool:
    if resource_policy:
        if "NotPrincipal" in statement:
            raise UnsupportedCondition("NotPrincipal is not evaluated by the local cloud")
        if not principal_matches(statement.get("Principal"), request.caller, account_means_everyone):
            return False
    if not _action_matches(statement, request.action):
        return False
    if "NotResource" in statement:
        if any(_arn_like(pattern, request.resource) for pattern in _listed(statement["NotResource"])):
            return False
    elif ("Resource" in statement or not resource_policy) and not any(
        _arn_like(pattern, request.resource) for pattern in _listed(statement.get("Resource", []))
    ):
        return False
    return all(
        _condition(operator, key, values, request.context)
        for operator, pairs in (statement.get("Condition") or {}).items()
        for key, values in pairs.items()
    )


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_wild(pattern, action) for pattern in _listed(statement["NotAction"]))
    return any(_wild(pattern, action) for pattern in _listed(statement.get("Action", [])))


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
_OPERATORS = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": lambda expected, actual: fnmatch.fnmatchcase(actual, expected),
    "ArnEquals": lambda expected, actual: expected == actual,
    "ArnLike": lambda expected, actual: _arn_like(expected, actual),  # noqa: PLW0108 (defined below)
    "Bool": lambda expected, actual: expected.lower() == actual.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition(operator: str, key: str, expected: Any, context: Mapping[str, str | list[str]]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    actual = next((value for name, value in context.items() if name.lower() == key.lower()), None)
    if actual is None:
        # A missing key matches only an IfExists or a negated operator.
        return if_exists or base in _NEGATED
    negated = base in _NEGATED
    test = _OPERATORS.get(_NEGATED.get(base, base))
    if test is None:
        raise UnsupportedCondition(f"condition operator {operator} is not evaluated by the local cloud")
    hit = any(test(str(want), str(have)) for want in _listed(expected) for have in _listed(actual))
    return not hit if negated else hit


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own, wildcards in each;
    the resource part may itself hold colons."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    return len(wanted) == len(given) and all(
        fnmatch.fnmatchcase(part, want) for want, part in zip(wanted, given, strict=True)
    )


def _wild(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
