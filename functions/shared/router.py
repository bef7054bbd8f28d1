"""A small router for API Gateway HTTP API events (payload format 2.0), for the HTTP functions.

It does what these functions used from Powertools' ``APIGatewayHttpResolver`` and no more:
routes by method and path, middlewares around every request (the not-found answer included),
exception handlers looked up along the exception's class hierarchy, a not-found handler, a
per-request context, and ``Response`` turned into the Lambda proxy result.

Why not Powertools' resolver: ``from aws_lambda_powertools.event_handler import ...`` runs that
package's ``__init__``, which imports every resolver (AppSync's pulls in asyncio), the OpenAPI
machinery and ``utilities.data_classes`` (every event data class): about 46 ms of a cold start
measured with ``python -X importtime``, a quarter of the 1.5 x ``import boto3`` budget. This
module imports only ``base64`` and ``re``. Powertools' Logger and Metrics stay.

Behaviour kept from Powertools, so that the functions answer exactly as before:
- A rule is a regular expression matched against the whole path (``/assets/.+`` matches any
  depth); routes are tried in the order they were registered, for the request's method.
- The path is ``rawPath`` without the stage prefix unless the stage is ``$default``.
- Middlewares run in the order they were added, outermost first, around the route handler or
  the not-found handler alike; an exception from either (or from a middleware) skips the
  middlewares' remaining work and goes to the handler of its nearest registered class.
- The result has ``statusCode``, ``body``, ``isBase64Encoded``, ``headers`` and ``cookies``;
  a ``bytes`` body is base64-encoded.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

NextMiddleware = Callable[["Router"], "Response"]
Middleware = Callable[["Router", NextMiddleware], "Response"]
Handler = Callable[[], "Response"]
E = TypeVar("E", bound=Exception)
H = TypeVar("H", bound=Handler)


class Response:
    """One HTTP answer; ``content_type`` becomes the Content-Type header unless ``headers`` set it."""

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: list[str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.content_type = content_type
        self.body = body
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self.cookies: list[str] = list(cookies) if cookies else []
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def to_proxy_result(self) -> dict[str, Any]:
        """The Lambda proxy result API Gateway turns into the HTTP response (format 2.0)."""
        body, encoded = self.body, isinstance(self.body, bytes)
        if isinstance(body, bytes):
            body = base64.b64encode(body).decode()
        return {
            "statusCode": self.status_code,
            "body": body,
            "isBase64Encoded": encoded,
            "headers": dict(self.headers),
            "cookies": list(self.cookies),
        }


class Request:
    """A read-only view of a payload format 2.0 event: only what our functions read."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.raw_event = event
        context = event.get("requestContext") or {}
        self._context: Mapping[str, Any] = context
        self.method: str = context["http"]["method"].upper()
        stage = context.get("stage", "$default")
        raw_path: str = event["rawPath"]
        # Called through the stage's own URL, the path starts with the stage name.
        self.path = raw_path if stage == "$default" else raw_path[len("/" + stage) :]
        # API Gateway sends header names in lower case; keys are lowered again for hand-made events.
        self.headers: dict[str, str] = {
            name.lower(): value for name, value in (event.get("headers") or {}).items()
        }

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name (repeated headers arrive joined by commas)."""
        return self.headers.get(name.lower())

    @property
    def body(self) -> str | None:
        """The body as API Gateway sent it: base64 text when ``is_base64_encoded``."""
        return self.raw_event.get("body")

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw_event.get("isBase64Encoded"))

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.raw_event.get("queryStringParameters") or {}

    @property
    def jwt_claims(self) -> dict[str, Any]:
        """Claims the JWT authorizer verified; empty on a public route."""
        authorizer = self._context.get("authorizer") or {}
        return (authorizer.get("jwt") or {}).get("claims") or {}

    @property
    def source_ip(self) -> str:
        return str(self._context["http"]["sourceIp"])


def _default_not_found() -> Response:
    return Response(404, "application/json", '{"statusCode":404,"message":"Not found"}')


class Router:
    """Routes format 2.0 events to handlers; ``resolve`` is the whole request's life."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._middlewares: list[Middleware] = []
        self._exception_handlers: dict[type[Exception], Callable[[Any], Response]] = {}
        self._not_found: Handler = _default_not_found
        self._current: Request | None = None
        self.context: dict[str, Any] = {}

    @property
    def current_event(self) -> Request:
        if self._current is None:
            raise RuntimeError("no request is being resolved")
        return self._current

    def route(self, rule: str, method: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self._routes.append((method.upper(), re.compile(rule), handler))
            return handler

        return register

    def get(self, rule: str) -> Callable[[H], H]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[H], H]:
        return self.route(rule, "POST")

    def use(self, middlewares: list[Middleware]) -> None:
        self._middlewares.extend(middlewares)

    def exception_handler(
        self, exc_class: type[E]
    ) -> Callable[[Callable[[E], Response]], Callable[[E], Response]]:
        def register(handler: Callable[[E], Response]) -> Callable[[E], Response]:
            self._exception_handlers[exc_class] = handler
            return handler

        return register

    def not_found(self, handler: H) -> H:
        self._not_found = handler
        return handler

    def append_context(self, **values: Any) -> None:
        """Per-request values (a middleware's findings for the route); cleared after each request."""
        self.context.update(values)

    def resolve(self, event: Mapping[str, Any], context: object) -> dict[str, Any]:
        """The Lambda proxy result for ``event``; ``context`` is accepted for the handler's shape."""
        self._current = Request(event)
        try:
            return self._answer(self._current).to_proxy_result()
        finally:
            self._current = None
            self.context.clear()

    def _answer(self, request: Request) -> Response:
        handler = next(
            (
                found
                for method, rule, found in self._routes
                if method == request.method and rule.fullmatch(request.path)
            ),
            self._not_found,
        )

        # Each middleware gets the next step; the innermost step is the handler itself.
        def step(index: int) -> NextMiddleware:
            if index == len(self._middlewares):
                return lambda _: handler()
            return lambda app: self._middlewares[index](app, step(index + 1))

        try:
            return step(0)(self)
        except Exception as error:
            for cls in type(error).__mro__:
                if cls in self._exception_handlers:
                    return self._exception_handlers[cls](error)
            raise
