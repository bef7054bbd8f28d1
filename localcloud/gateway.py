"""API Gateway HTTP APIs, locally: one server per API, built from the deployed graph.

Route matching (``METHOD /path``, ``{param}``, ``{proxy+}``, ``ANY``, ``$default``), payload
format 2.0 events, the JWT authorizer validated against the user pool's JWKS with AWS's 401s,
stage and route throttling as token buckets with AWS's 429s, the 10 MB payload limit, CORS,
base64 bodies for binary content, the integration timeout, and JSON access logs.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from localcloud.runner import FunctionError, GaveUp, LocalFunction, Throttled
from localcloud.settings import ACCOUNT

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)


def aws_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """API Gateway's own error responses: ``{"message": ...}`` with its exact wording."""
    return Response(
        json.dumps({"message": message}),
        status=status,
        headers=headers or {},
        content_type="application/json",
    )


class TokenBucket:
    """API Gateway throttling: a steady rate with a burst capacity."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = max(1, burst)
        self.tokens = float(self.capacity)
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


@dataclass
class JwtAuthorizer:
    issuer: str
    audiences: list[str]
    jwks_url: str
    _client: jwt.PyJWKClient | None = None

    def claims(self, header: str | None) -> dict[str, Any]:
        """Verified claims, or ValueError with API Gateway's error description."""
        if not header:
            raise ValueError("missing authorization token")
        token = header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
        if self._client is None:
            self._client = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=300)
        try:
            key = self._client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise ValueError("the token has expired") from error
        except jwt.ImmatureSignatureError as error:
            raise ValueError("the token is not valid yet") from error
        except (jwt.PyJWTError, jwt.PyJWKClientError) as error:
            raise ValueError("the token is not valid") from error
        # HTTP APIs accept a token whose aud (ID tokens) or client_id (access tokens) is listed.
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience, claims.get("client_id")]
        if not any(item in self.audiences for item in audiences if item):
            raise ValueError("the token does not have a valid audience")
        return claims


NO_INVOKE_PERMISSION = (
    "The IAM role configured on the integration or API Gateway doesn't have permissions to call the "
    "integration. Check the permissions and try again."
)


@dataclass
class Route:
    method: str  # "GET", "ANY"; "$default" routes have method "" and path ""
    path: str
    key: str
    function: LocalFunction
    authorizer: JwtAuthorizer | None
    bucket: TokenBucket | None
    timeout: float = 30.0  # the integration's timeout: API Gateway stops waiting then
    # Whether the function's resource policy lets API Gateway invoke it for this route.
    permitted: bool = True
    pattern: re.Pattern[str] | None = None
    params: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.key == "$default":
            return
        regex, self.params = "", []
        for segment in self.path.strip("/").split("/") if self.path != "/" else []:
            if segment.startswith("{") and segment.endswith("+}"):
                self.params.append(segment[1:-2])
                regex += "/(.+)"
            elif segment.startswith("{"):
                self.params.append(segment[1:-1])
                regex += "/([^/]+)"
            else:
                regex += "/" + re.escape(segment)
        self.pattern = re.compile(f"^{regex or '/'}$")

    def specificity(self) -> tuple[int, int, int]:
        """AWS prefers exact paths, then parameters, then greedy paths; a method over ANY."""
        greedy = int("+}" in self.path)
        return (greedy, self.path.count("{"), int(self.method == "ANY"))


@dataclass
class Api:
    name: str
    region: str
    api_id: str
    routes: list[Route]
    stage_bucket: TokenBucket
    cors: dict[str, Any] | None
    access_log: Callable[[dict[str, Any]], None]
    metric: Callable[[str, float], None] = lambda name, value: None

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        candidates = []
        for route in self.routes:
            if route.pattern is None or route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                candidates.append(
                    (route.specificity(), route, dict(zip(route.params, found.groups(), strict=True)))
                )
        if candidates:
            _, route, params = min(candidates, key=lambda item: item[0])
            return route, params
        default = next((route for route in self.routes if route.key == "$default"), None)
        return default, {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
        route_key = "-"
        response = self._preflight(request)
        if response is None:
            route, params = self.match(request.method, request.path)
            route_key = route.key if route else "-"
            response = self._handle(request, route, params, request_id)
        self._add_cors(request, response)
        response.headers["apigw-requestid"] = request_id
        latency = (time.perf_counter() - started) * 1000
        self.access_log(
            {
                "requestId": request_id,
                "ip": request.remote_addr,
                "requestTime": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "httpMethod": request.method,
                "routeKey": route_key,
                "path": request.path,
                "status": str(response.status_code),
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "responseLength": str(response.calculate_content_length() or 0),
                "latency": str(int(latency)),
                "integrationError": getattr(response, "integration_error", "-"),
            }
        )
        self.metric("Count", 1)
        self.metric("4xx", int(400 <= response.status_code < 500))
        self.metric("5xx", int(response.status_code >= 500))
        self.metric("Latency", latency)
        return response(environ, start_response)

    def build_event(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[Route, dict[str, Any]]:
        """The route and the exact event this gateway would send for a request, without sending it.

        Runs the route's JWT authorizer (ValueError when it rejects), so a direct handler call
        and a call through the gateway see the same event; used by ``make bench``.
        """
        # From the loopback, like every request the local gateway serves (sourceIp is never empty).
        builder = EnvironBuilder(
            method=method,
            path=path,
            headers=list((headers or {}).items()),
            data=body,
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        request = Request(builder.get_environ())
        route, params = self.match(request.method, request.path)
        if route is None:
            raise ValueError(f"no route for {method} {path}")
        claims = route.authorizer.claims(request.headers.get("authorization")) if route.authorizer else None
        request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
        return route, self._event(request, route, params, body, claims, request_id)

    def _handle(
        self, request: Request, route: Route | None, params: dict[str, str], request_id: str
    ) -> Response:
        if route is None:
            return aws_error(404, "Not Found")
        if not self.stage_bucket.take() or (route.bucket is not None and not route.bucket.take()):
            return aws_error(429, "Too Many Requests")
        length = request.content_length or 0
        if length > MAX_PAYLOAD_BYTES:
            return aws_error(413, "Request Entity Too Large")
        body = request.get_data(cache=False)
        if len(body) > MAX_PAYLOAD_BYTES:
            return aws_error(413, "Request Entity Too Large")
        claims = None
        if route.authorizer is not None:
            try:
                claims = route.authorizer.claims(request.headers.get("authorization"))
            except ValueError as error:
                challenge = f'Bearer scope="" error="invalid_token" error_description="{error}"'
                return aws_error(401, "Unauthorized", {"www-authenticate": challenge})
        if not route.permitted:
            # As AWS answers without the function's invoke permission, and logs it as the
            # integration error: https://repost.aws/knowledge-center/api-gateway-http-lambda-integrations
            response = aws_error(500, "Internal Server Error")
            response.integration_error = NO_INVOKE_PERMISSION  # type: ignore[attr-defined]
            return response
        event = self._event(request, route, params, body, claims, request_id)
        try:
            # Like API Gateway, stop waiting at the integration timeout; the function runs on.
            # Invoked from this request's thread: a warm worker's answer is read where the
            # response is written, with no thread started or joined per request.
            result = route.function.invoke(event, patience=route.timeout)
        except GaveUp:
            return aws_error(503, "Service Unavailable")
        except Throttled:
            return aws_error(429, "Too Many Requests")
        except FunctionError as failure:
            if failure.payload.get("errorType") == "Sandbox.Timedout":
                return aws_error(503, "Service Unavailable")
            return aws_error(500, "Internal Server Error")
        except Exception:  # noqa: BLE001 - also e.g. a dead worker's broken pipe (a 500)
            return aws_error(500, "Internal Server Error")
        return _response(result)

    def _event(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        body: bytes,
        claims: dict[str, Any] | None,
        request_id: str,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        content_type = headers.get("content-type", "")
        text = not body or content_type.startswith(TEXT_TYPES)
        now = datetime.now(UTC)
        query = request.args
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode(),
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": self.api_id,
                "domainName": request.host,
                "domainPrefix": request.host.split(".")[0],
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                    "sourceIp": request.remote_addr,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": not text,
        }
        if request.cookies:
            event["cookies"] = [f"{key}={value}" for key, value in request.cookies.items()]
        if query:
            event["queryStringParameters"] = {key: ",".join(query.getlist(key)) for key in query}
        if params:
            event["pathParameters"] = params
        if body:
            event["body"] = body.decode("utf-8", "replace") if text else base64.b64encode(body).decode()
        if claims is not None:
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": {key: _claim(value) for key, value in claims.items()}, "scopes": None}
            }
        return event

    def _preflight(self, request: Request) -> Response | None:
        if not (
            self.cors
            and request.method == "OPTIONS"
            and "origin" in request.headers
            and "access-control-request-method" in request.headers
        ):
            return None
        response = Response(status=204)
        methods = self.cors.get("allowMethods") or []
        headers = self.cors.get("allowHeaders") or []
        response.headers["access-control-allow-methods"] = ",".join(methods)
        if headers:
            response.headers["access-control-allow-headers"] = ",".join(headers)
        if self.cors.get("maxAge"):
            response.headers["access-control-max-age"] = str(self.cors["maxAge"])
        return response

    def _add_cors(self, request: Request, response: Response) -> None:
        origin = request.headers.get("origin")
        if not (self.cors and origin):
            return
        allowed = self.cors.get("allowOrigins") or []
        if "*" in allowed:
            response.headers["access-control-allow-origin"] = "*"
        elif origin in allowed:
            response.headers["access-control-allow-origin"] = origin
            response.headers["vary"] = "Origin"


def _claim(value: Any) -> str:
    """API Gateway passes every claim as a string; arrays as ``[a b]``."""
    if isinstance(value, list):
        return "[" + " ".join(str(item) for item in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _response(result: Any) -> Response:
    """A Lambda proxy result (payload 2.0) as an HTTP response."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("content-type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("set-cookie", cookie)
    if "content-type" not in response.headers:
        response.headers["content-type"] = "application/json"
    return response
