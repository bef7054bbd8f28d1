"""The region registry: every deployed region's public endpoints.

Each stack publishes ``<REGISTRY_PATH>/<region>`` = ``{"api": url, "slackApi": url}`` as an SSM
parameter in the primary region, so adding a region never edits another stack. A secondary also
keeps a copy in its own region, its own entry and the primary's (``components.linking``): read
when the primary region does not answer, after what this environment read last.

Environment:
- REGISTRY_PATH: e.g. ``/active-active/regions``.
- PRIMARY_REGION: where the registry lives.
- AWS_REGION: where this region's copy lives.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from shared import aws, parameters

MAX_AGE_SECONDS = 30
# The registry lives in the primary region; through that region's outage an environment that read
# it serves what it read (regions are added rarely, with a deployment), and one that did not reads
# its own region's copy.
STALE_IF_ERROR_SECONDS = 24 * 3600


@dataclass(frozen=True)
class RegionEndpoints:
    region: str
    api: str
    slack_api: str


def home() -> str:
    """Where the registry lives: the primary region."""
    return os.environ["PRIMARY_REGION"]


def cached() -> bool:
    """Is the registry in the cache (``regions`` makes no call)?"""
    return parameters.cached_path(os.environ["REGISTRY_PATH"], region=home())


def regions() -> dict[str, RegionEndpoints]:
    """Deployed regions by name, sorted, cached for MAX_AGE_SECONDS."""
    path, primary = os.environ["REGISTRY_PATH"], home()
    try:
        raw = parameters.by_path(
            path, max_age=MAX_AGE_SECONDS, region=primary, stale_if_error=STALE_IF_ERROR_SECONDS
        )
    except parameters.ParameterError:
        if aws.region() == primary:
            raise
        raw = parameters.by_path(path, max_age=MAX_AGE_SECONDS)
    found = {}
    for region, text in sorted(raw.items()):
        entry = json.loads(text)
        found[region] = RegionEndpoints(region=region, api=entry["api"], slack_api=entry.get("slackApi", ""))
    return found
