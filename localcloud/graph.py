"""What every local service shares: each region's resolved resource graph (as the deployer wrote
it), the region's data plane built from it, and the client factory for the local cloud's moto.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from localcloud import gateway
    from localcloud.runner import LocalFunction

_session = boto3.session.Session()
_session_lock = threading.Lock()


def aws_client(service: str, region: str, endpoint: str) -> Any:
    """A client of the local cloud's moto. Every client comes from one session, so botocore
    loads each service's model once (a session of its own cost each client about 9 MB); a
    session is not thread-safe but its clients are, so only creating one takes the lock.
    https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients"""
    with _session_lock:
        return _session.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id="localcloud",
            aws_secret_access_key="localcloud",  # noqa: S106 - moto accepts any credentials
        )


class Graph:
    """One region's deployed resources, with look-ups by type, id and ARN."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.region: str = data["region"]
        self.resources: list[dict[str, Any]] = data["resources"]
        self.taps: dict[str, str] = data.get("taps", {})
        self.not_emulated: list[dict[str, str]] = data.get("notEmulated", [])

    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [resource for resource in self.resources if resource["type"] == typ]

    def by_id(self, typ: str, resource_id: str) -> dict[str, Any]:
        return next(r for r in self.of_type(typ) if r["id"] == resource_id)


@dataclass
class Region:
    """One region's data plane: its graph and the local services built from it."""

    graph: Graph
    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by source folder
    apis: dict[str, gateway.Api] = field(default_factory=dict)  # "user" | "slack"
    urls: dict[str, str] = field(default_factory=dict)
