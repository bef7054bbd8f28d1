"""What every local service shares: each region's resolved resource graph (as the deployer wrote
it), the region's data plane built from it, and the client factory for the local cloud's moto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config

from localcloud.iam.deliveries import Deliveries
from localcloud.iam.principals import UNENFORCED_CREDENTIALS, Credentials, expiring

if TYPE_CHECKING:
    from localcloud import gateway
    from localcloud.runner import LocalFunction

_session = boto3.session.Session()
# botocore gzips large PutMetricData bodies; moto checks the signature over the body it has
# unzipped, so an IAM-enforcing moto refused them (InvalidSignatureException). The local services
# stand in for AWS's own publishers: nothing is lost by sending them plain.
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-compression.html
UNCOMPRESSED = botocore.config.Config(disable_request_compression=True)
_session_lock = threading.Lock()
# Who the local services call as: the local cloud's admin once it enforces IAM (sign_as).
_signer: list[Credentials] = [UNENFORCED_CREDENTIALS]


def sign_as(credentials: Credentials) -> None:
    """The principal every later aws_client calls as (the local cloud's admin)."""
    _signer[0] = credentials


def aws_client(service: str, region: str, endpoint: str, credentials: Credentials | None = None) -> Any:
    """A client of the local cloud's moto, as `credentials` or the local services' principal.
    Every client comes from one session, so botocore loads each service's model once (a session
    of its own cost each client about 9 MB); a session is not thread-safe but its clients are,
    so only creating one takes the lock.
    https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html#multithreading-or-multiprocessing-with-clients"""
    with _session_lock:
        return _session.client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            config=UNCOMPRESSED,
            **(credentials or _signer[0]).client_options(),
        )


class RoleClient:
    """A client of moto as an assumed role (`assume`), its credentials renewed before they
    expire: what a Lambda service part that calls as the function's role (an event source
    mapping, an on-failure destination) uses."""

    RENEW_SECONDS = 300.0

    def __init__(self, service: str, region: str, endpoint: str, assume: Callable[[], Credentials]) -> None:
        self.service, self.region, self.endpoint, self.assume = service, region, endpoint, assume
        self.lock = threading.Lock()
        self.credentials: Credentials | None = None
        self.client: Any = None

    def __getattr__(self, name: str) -> Any:
        with self.lock:
            if self.credentials is None or expiring(self.credentials, self.RENEW_SECONDS):
                self.credentials = self.assume()
                self.client = aws_client(self.service, self.region, self.endpoint, self.credentials)
            return getattr(self.client, name)


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
    deliveries: Deliveries
    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by source folder
    apis: dict[str, gateway.Api] = field(default_factory=dict)  # "user" | "slack"
    urls: dict[str, str] = field(default_factory=dict)
