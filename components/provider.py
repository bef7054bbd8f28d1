"""The stack's AWS provider: the stack's own ``aws:*`` settings plus the app's default tags.

An explicit provider reads no stack configuration (only the default provider does:
https://www.pulumi.com/docs/iac/concepts/resources/providers/), so every ``aws:*`` key a stack
sets (``aws:profile``, ``aws:assumeRoles``, ``aws:allowedAccountIds``, ...) is passed on here, as
the default provider would have read it. Its default tags put ``app``, ``stack`` and ``region``
on every taggable resource, after any ``aws:defaultTags`` the stack sets.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws

# Set from the app's settings, not passed through.
OWN = {"region", "default_tags"}
SECRET = {"access_key", "secret_key", "token"}


def _stack_settings() -> dict[str, Any]:
    """Every provider argument the stack's ``aws:*`` config sets, by its Python name."""
    config = pulumi.Config("aws")
    names = [
        name
        for name in inspect.signature(aws.Provider._internal_init).parameters
        if name not in {"__self__", "resource_name", "opts", "__props__", *OWN}
    ]
    settings: dict[str, Any] = {}
    for name in names:
        key = re.sub(r"_([a-z0-9])", lambda match: match.group(1).upper(), name)
        raw = config.get(key)
        if raw is None:
            continue
        # Lists and objects (aws:assumeRoles, aws:allowedAccountIds) are stored as JSON.
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        settings[name] = pulumi.Output.secret(value) if name in SECRET else value
    return settings


def stack_provider(app: str, region: str) -> aws.Provider:
    stack_tags = (pulumi.Config("aws").get_object("defaultTags") or {}).get("tags", {})
    tags = {**stack_tags, "app": app, "stack": pulumi.get_stack(), "region": region}
    return aws.Provider("aws", region=region, default_tags={"tags": tags}, **_stack_settings())
