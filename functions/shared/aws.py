"""AWS clients, created once per container and only when first used (short cold starts).

Environment:
- AWS_REGION: the function's region (set by Lambda).
- AWS_ENDPOINT_URL: optional; boto3 sends every call there (the local cloud uses it).
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

# Fail fast inside Lambda's timeout rather than hang on a slow dependency.
_CLIENT_SETTINGS = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"mode": "standard", "max_attempts": 3},
}


_REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def region() -> str:
    return os.environ["AWS_REGION"]


def is_region_name(value: object) -> bool:
    """True for a string shaped like an AWS region name (``us-east-1``, ``ap-southeast-2``)."""
    return isinstance(value, str) and _REGION_NAME.fullmatch(value) is not None


@functools.cache
def client(service: str, region_name: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region_name or region(), config=Config(**_CLIENT_SETTINGS))


def reset() -> None:
    """Forget every cached client (tests start each case from a clean container)."""
    client.cache_clear()
