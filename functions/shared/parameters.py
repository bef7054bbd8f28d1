"""SSM parameters read through a small per-container cache, on the shared clients.

What Powertools' parameters utility does for this app, without its ``import boto3`` (tens of
milliseconds of every cold start): values are cached for ``max_age`` seconds, so the hot path
of a warm container makes no SSM call, and a failed read raises ParameterError. A read may
instead fall back to the value it last read when SSM cannot answer (``stale_if_error``): for
values that change rarely, such as the region registry, which lives in the primary region and
must stay readable through that region's outage.

Environment: AWS_REGION (``shared.aws``), the default region of every read.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from shared import aws

logger = logging.getLogger(__name__)
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}


class ParameterError(Exception):
    """A parameter could not be read (missing, denied, or SSM unreachable)."""


def get(name: str, *, max_age: float, decrypt: bool = False, region: str | None = None) -> str:
    """The parameter's value, from the cache when it is younger than ``max_age`` seconds."""
    key = ("one", name, decrypt, region or aws.region())
    cached = _fresh(key)
    if cached is not None:
        return str(cached)
    response = _call(key[3], "get_parameter", Name=name, WithDecryption=decrypt)
    return str(_store(key, response["Parameter"]["Value"], max_age))


def remember(
    name: str, value: str, *, max_age: float, decrypt: bool = False, region: str | None = None
) -> None:
    """Keep a value read by another call (several parameters in one GetParameters, say) for
    ``max_age`` seconds, as ``get`` would have: its next ``get`` makes no call."""
    _store(("one", name, decrypt, region or aws.region()), value, max_age)


def cached(name: str, *, decrypt: bool = False, region: str | None = None) -> bool:
    """Is the parameter's value in the cache, younger than its max age (``get`` makes no call)?"""
    return _fresh(("one", name, decrypt, region or aws.region())) is not None


def cached_path(path: str, *, region: str | None = None) -> bool:
    """Are the parameters under ``path`` in the cache, younger than their max age (``by_path``
    makes no call)?"""
    return _fresh(("path", path, region or aws.region())) is not None


def by_path(
    path: str, *, max_age: float, region: str | None = None, stale_if_error: float = 0
) -> dict[str, str]:
    """Every parameter directly under ``path``, by its name relative to the path. When the read
    fails, the value last read is returned instead if it expired less than ``stale_if_error``
    seconds ago (logged)."""
    key = ("path", path, region or aws.region())
    cached = _fresh(key)
    if cached is not None:
        return dict(cached)
    try:
        return _read_path(key, path, max_age)
    except ParameterError as error:
        entry = _cache.get(key)
        if entry is None or time.monotonic() - entry[0] >= stale_if_error:
            raise
        logger.warning("serving parameters read before: %s", error, extra={"path": path, "region": key[2]})
        return dict(entry[1])


def _read_path(key: tuple[Any, ...], path: str, max_age: float) -> dict[str, str]:
    prefix = path.rstrip("/") + "/"
    found: dict[str, str] = {}
    request: dict[str, Any] = {"Path": path, "Recursive": False}
    while True:
        response = _call(key[2], "get_parameters_by_path", **request)
        for parameter in response.get("Parameters", []):
            found[parameter["Name"].removeprefix(prefix)] = parameter["Value"]
        if not response.get("NextToken"):
            return dict(_store(key, found, max_age))
        request["NextToken"] = response["NextToken"]


def _fresh(key: tuple[Any, ...]) -> Any:
    entry = _cache.get(key)
    if entry is None or entry[0] <= time.monotonic():
        return None
    return entry[1]


def _store(key: tuple[Any, ...], value: Any, max_age: float) -> Any:
    _cache[key] = (time.monotonic() + max_age, value)
    return value


def _call(region: str, operation: str, **request: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return dict(getattr(aws.client("ssm", region), operation)(**request))
    except (BotoCoreError, ClientError) as error:
        raise ParameterError(f"{operation} failed: {error}") from error


def clear_caches() -> None:
    _cache.clear()
