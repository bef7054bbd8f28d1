"""The user API's request and response conventions, shared by every HTTP function.

- Errors are ``{"error": "<clear message>"}`` with a 4xx/5xx status, mapped in one place.
- A failed region (chaos state) answers 503 on every guarded route.
- JSON bodies are parsed and checked here, so handlers only see well-formed input.
- An exception answered with a 500 instead of raised is counted as the ``HandledErrors`` metric
  (``count_handled_error``): Lambda's own Errors metric counts only invocations that raise.

Environment: read by ``shared.chaos`` (CHAOS_PARAMETER_PREFIX) for the region guard.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from shared import aws, chaos, jsonparse, snapstart  # noqa: F401 - snapstart registers the runtime hooks
from shared.router import NextMiddleware, Response, Router

logger = Logger(child=True)

# Far more than any request of this API needs; anything bigger is a mistake or an attack.
MAX_BODY_BYTES = 16 * 1024
HANDLED_ERRORS = "HandledErrors"


class ApiError(Exception):
    """An error the client should see, with its HTTP status and extra response fields."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers=headers or {},
    )


def error_response(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


def count_handled_error() -> None:
    """One ``HandledErrors`` datapoint, for a request answered with a 500 instead of raising.

    Lambda's Errors metric counts only invocations that raise (a handler that returns a 500
    succeeded as far as Lambda can tell), so an unexpected exception or an injected failure
    would count nowhere. Powertools' ``single_metric`` prints its EMF line when the block ends,
    with the namespace and the ``service`` dimension the component sets (POWERTOOLS_*), whether
    or not the handler flushes a ``Metrics`` set; it is on every function's import path already.
    """
    # Lambda's Errors metric: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    # Powertools' single_metric: https://docs.aws.amazon.com/powertools/python/latest/api
    with single_metric(name=HANDLED_ERRORS, unit=MetricUnit.Count, value=1):
        pass


def region_unavailable() -> Response:
    region = aws.region()
    return error_response(503, f"region {region} is failed over; use another region", region=region)


def region_guard(app: Router, next_middleware: NextMiddleware) -> Response:
    """Answer 503 while this region's chaos state says it is failed."""
    if chaos.current().failed:
        return region_unavailable()
    return next_middleware(app)


def create_resolver(*, guard_region: bool = True) -> Router:
    app = Router()
    if guard_region:
        app.use(middlewares=[region_guard])

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message, **error.extra)

    @app.not_found
    def _not_found() -> Response:
        event = app.current_event
        return error_response(404, f"no route for {event.method} {event.path}")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        count_handled_error()
        return error_response(500, "internal error; please retry")

    return app


def json_object_body(app: Router, *, required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError 400/413 with a clear message."""
    event = app.current_event
    raw = event.body
    if raw is None or raw == "":
        if required:
            raise ApiError(400, "request body must be a JSON object")
        return {}
    if event.is_base64_encoded:
        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError as error:
            raise ApiError(400, "request body is not valid base64") from error
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = jsonparse.loads(data)
    except jsonparse.NestedTooDeeply as error:
        raise ApiError(400, "request body is nested too deeply") from error
    except ValueError as error:  # also not UTF-8, and integers over Python's 4300-digit limit
        raise ApiError(400, "request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def require_string(body: dict[str, Any], field: str, *, max_length: int) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"'{field}' must be a non-empty string")
    if len(value) > max_length:
        raise ApiError(400, f"'{field}' must be at most {max_length} characters")
    if "\x00" in value:
        raise ApiError(400, f"'{field}' must not contain NUL characters")
    if not _is_unicode_text(value):
        raise ApiError(400, f"'{field}' must be valid Unicode text (no unpaired surrogates)")
    return value


def _is_unicode_text(value: str) -> bool:
    """False for a lone surrogate (JSON allows ``"\\ud800"``), which no AWS API can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def jwt_claims(app: Router) -> dict[str, Any]:
    """Claims the JWT authorizer verified; the gateway never calls a protected route without them."""
    claims = app.current_event.jwt_claims
    if not claims or not claims.get("sub"):
        raise ApiError(401, "missing verified token claims")
    return dict(claims)


def username_from(claims: dict[str, Any]) -> str:
    """ID tokens carry ``cognito:username``; access tokens carry ``username``."""
    return str(claims.get("cognito:username") or claims.get("username") or claims["sub"])
