"""AWS clients, created once per container and only when first used (short cold starts).

Environment:
- AWS_REGION: the function's region (set by Lambda).
- AWS_ENDPOINT_URL: optional; boto3 sends every call there (the local cloud uses it).
"""

from __future__ import annotations

import functools
import os
from typing import Any

# Fail fast inside Lambda's timeout rather than hang on a slow dependency.
_CLIENT_SETTINGS = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"mode": "standard", "max_attempts": 3},
}


def region() -> str:
    return os.environ["AWS_REGION"]


@functools.cache
def client(service: str, region_name: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region_name or region(), config=Config(**_CLIENT_SETTINGS))


def reset() -> None:
    """Forget every cached client (tests start each case from a clean container)."""
    client.cache_clear()
