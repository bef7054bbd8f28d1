"""The region registry: every deployed region's public endpoints.

Each stack publishes ``<REGISTRY_PATH>/<region>`` = ``{"api": url, "slackApi": url}`` as an SSM
parameter in the primary region, so adding a region never edits another stack.

Environment:
- REGISTRY_PATH: e.g. ``/active-active/regions``.
- PRIMARY_REGION: where the registry lives.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from shared import parameters

MAX_AGE_SECONDS = 30


@dataclass(frozen=True)
class RegionEndpoints:
    region: str
    api: str
    slack_api: str


def regions() -> dict[str, RegionEndpoints]:
    """Deployed regions by name, sorted, cached for MAX_AGE_SECONDS."""
    raw = parameters.by_path(
        os.environ["REGISTRY_PATH"], max_age=MAX_AGE_SECONDS, region=os.environ["PRIMARY_REGION"]
    )
    found = {}
    for region, text in sorted(raw.items()):
        entry = json.loads(text)
        found[region] = RegionEndpoints(region=region, api=entry["api"], slack_api=entry.get("slackApi", ""))
    return found
