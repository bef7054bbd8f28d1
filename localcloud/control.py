"""The local control API: black a region out and restore it (local only, never in AWS).

- ``GET /regions``: every region's state, ``{"regions": {"<region>": <state>}}``.
- ``GET /regions/<region>``: one region's state.
- ``POST /regions/<region>/blackout``: the region suffers a real outage (``localcloud.blackout``);
  200 with its state, 409 when it is already out.
- ``POST /regions/<region>/restore``: the outage ends and the replication backlog drains;
  200 with its state (``lastOutage.backlog``: the writes queued for it), 409 when it is not out.

A region's state: ``{"region", "state": "up" | "blackout", "since": iso-time | null,
"backlog": writes queued for it now, "lastOutage": null | {"started", "ended": iso-time | null,
"backlog": writes queued for it when it was restored, "drainedAt": iso-time | null,
"drainSeconds": seconds from restore to drained | null}}``.

Errors are ``{"error": "<clear message>"}``: 404 for an unknown region or path, 405 for a wrong
method (with ``Allow``), 403 for a request from a web page of another origin (a page in the
operator's browser could otherwise black a region out), 500 when the local cloud could not do it
(moto's process gone, say). It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

log = logging.getLogger("localcloud.control")


class Conflict(Exception):
    """The region is not in a state the action applies to (409)."""


class Regions(Protocol):
    """What the control API drives: the local cloud (``localcloud.cloud.LocalCloud``)."""

    regions: Any  # region name -> its data plane

    def black_out(self, region: str) -> dict[str, Any]: ...

    def restore(self, region: str) -> dict[str, Any]: ...

    def region_state(self, region: str) -> dict[str, Any]: ...


class ControlApi:
    """The control API as a WSGI app over `cloud`; `origin` is its own URL."""

    def __init__(self, cloud: Regions, origin: str) -> None:
        self.cloud = cloud
        self.origin = origin.rstrip("/")
        self.urls = Map(
            [
                Rule("/regions", endpoint="list", methods=["GET"]),
                Rule("/regions/<region>", endpoint="show", methods=["GET"]),
                Rule("/regions/<region>/blackout", endpoint="blackout", methods=["POST"]),
                Rule("/regions/<region>/restore", endpoint="restore", methods=["POST"]),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != self.origin:
            return _error(403, f"requests from web pages of other origins are refused (Origin {origin})")
        try:
            endpoint, values = self.urls.bind_to_environ(request.environ).match()
        except MethodNotAllowed as error:
            allowed = ", ".join(sorted(error.valid_methods or []))
            response = _error(405, f"{request.method} is not allowed on {request.path}: use {allowed}")
            response.headers["Allow"] = allowed
            return response
        except NotFound:
            return _error(
                404,
                f"no such path {request.path}: GET /regions, GET /regions/<region>, "
                "POST /regions/<region>/blackout, POST /regions/<region>/restore",
            )
        except HTTPException as error:
            return _error(error.code or 400, error.description or "bad request")
        if endpoint == "list":
            regions = {name: self.cloud.region_state(name) for name in self.cloud.regions}
            return _json(200, {"regions": regions})
        region = values["region"]
        if region not in self.cloud.regions:
            known = ", ".join(self.cloud.regions)
            return _error(404, f"unknown region {region!r}; the regions are {known}")
        try:
            if endpoint == "blackout":
                return _json(200, self.cloud.black_out(region))
            if endpoint == "restore":
                return _json(200, self.cloud.restore(region))
        except Conflict as error:
            return _error(409, str(error))
        except Exception as error:  # e.g. moto's process gone: said in JSON, and logged
            log.exception("%s %s failed", endpoint, region)
            return _error(500, f"{endpoint} {region} failed: {error}")
        return _json(200, self.cloud.region_state(region))


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})
