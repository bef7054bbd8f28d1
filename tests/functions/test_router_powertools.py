"""shared.router held to Powertools' APIGatewayHttpResolver, its reference, so the two cannot drift.

Each HTTP function's ``app.py`` is loaded a second time with ``shared.http.Router`` replaced by
``PowertoolsRouter``: the same module registers the same routes, middlewares, exception handlers
and not-found handler, in the same order, on a real ``APIGatewayHttpResolver``, and its handlers
read the request through Powertools' own event class (``APIGatewayProxyEventV2``). Every event
(the real-world shapes in ``tests/events/``, every route each function declares, its not-found,
wrong-method, stage-prefixed, malformed and failing requests) then goes through both handlers,
and their Lambda proxy results must be equal: status, headers, body, base64 flag and cookies.

The one adapter is ``Response``: the functions build ``shared.router.Response`` and Powertools
routes return its own, so each value crossing between them is copied field for field.

Where they legitimately differ, the test at the end states it, with the reason.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler import Response as PowertoolsResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from conftest import ROOT, http_event, load_event, set_chaos
from shared import http
from shared.router import Response
from slack_helpers import FrozenClock, events_api_event, signed, signed_command

NOW = 1_795_597_200


class PowertoolsRequest:
    """What ``shared.router.Request`` offers the functions, read by Powertools' event class."""

    def __init__(self, event: APIGatewayProxyEventV2) -> None:
        self._event = event
        self.raw_event = event.raw_event

    @property
    def method(self) -> str:
        return self._event.http_method.upper()

    @property
    def path(self) -> str:
        return self._event.path

    def header(self, name: str) -> str | None:
        return self._event.headers.get(name)

    @property
    def body(self) -> str | None:
        return self._event.body

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self._event.is_base64_encoded)

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self._event.query_string_parameters

    @property
    def jwt_claims(self) -> dict[str, Any]:
        return self._event.request_context.authorizer.jwt_claim

    @property
    def source_ip(self) -> str:
        return self._event.request_context.http.source_ip


def to_powertools(response: Response) -> PowertoolsResponse:
    return PowertoolsResponse(
        status_code=response.status_code,
        content_type=response.content_type,
        body=response.body,
        headers=dict(response.headers),
        cookies=list(response.cookies),
    )


def from_powertools(response: PowertoolsResponse) -> Response:
    headers = {
        name: value if isinstance(value, str) else ", ".join(value)
        for name, value in response.headers.items()
    }
    return Response(
        response.status_code,
        response.content_type,
        response.body,
        headers,
        [str(c) for c in response.cookies],
    )


class PowertoolsRouter:
    """``shared.router.Router``'s interface over a real ``APIGatewayHttpResolver``."""

    def __init__(self) -> None:
        self.resolver = APIGatewayHttpResolver()

    @property
    def current_event(self) -> PowertoolsRequest:
        return PowertoolsRequest(self.resolver.current_event)

    @property
    def context(self) -> dict[str, Any]:
        return self.resolver.context

    def append_context(self, **values: Any) -> None:
        self.resolver.append_context(**values)

    def route(self, rule: str, method: str) -> Callable[[Callable[[], Response]], Callable[[], Response]]:
        def register(handler: Callable[[], Response]) -> Callable[[], Response]:
            self.resolver.route(rule, method)(lambda: to_powertools(handler()))
            return handler

        return register

    def get(self, rule: str) -> Callable[[Callable[[], Response]], Callable[[], Response]]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[Callable[[], Response]], Callable[[], Response]]:
        return self.route(rule, "POST")

    def use(self, middlewares: list[Callable[[Any, Callable[[Any], Response]], Response]]) -> None:
        def adapted(middleware: Callable[..., Response]) -> Callable[..., PowertoolsResponse]:
            def run(resolver: APIGatewayHttpResolver, next_middleware: Any) -> PowertoolsResponse:
                return to_powertools(middleware(self, lambda _: from_powertools(next_middleware(resolver))))

            run.__name__ = middleware.__name__  # Powertools names each frame after its middleware
            return run

        self.resolver.use([adapted(middleware) for middleware in middlewares])

    def exception_handler(self, exc_class: type[Exception]) -> Callable[[Callable[..., Response]], Any]:
        def register(handler: Callable[[Exception], Response]) -> Callable[[Exception], Response]:
            self.resolver.exception_handler(exc_class)(lambda error: to_powertools(handler(error)))
            return handler

        return register

    def not_found(self, handler: Callable[[], Response]) -> Callable[[], Response]:
        self.resolver.not_found(lambda _: to_powertools(handler()))
        return handler

    def resolve(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        return self.resolver.resolve(event, context)  # type: ignore[arg-type]


HTTP_FUNCTIONS = ("clicks", "discovery", "health", "hello", "login", "slack_commands", "web")


def load_twins(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[ModuleType, ModuleType]]:
    """Each HTTP function's app module as deployed, and its twin built on Powertools."""
    import importlib

    twins = {}
    for name in HTTP_FUNCTIONS:
        original = importlib.import_module(f"{name}.app")
        with monkeypatch.context() as patch:
            patch.setattr(http, "Router", PowertoolsRouter)
            spec = importlib.util.spec_from_file_location(
                f"powertools_twin_{name}", ROOT / "functions" / name / "app.py"
            )
            assert spec is not None and spec.loader is not None
            twin = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = twin
            spec.loader.exec_module(twin)
        assert isinstance(twin.app, PowertoolsRouter), f"{name} does not build its app with shared.http"
        twins[name] = (original, twin)
    return twins


@pytest.fixture
def twins(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, tuple[ModuleType, ModuleType]]]:
    from slack_commands import verify

    monkeypatch.setattr(verify, "clock", FrozenClock(NOW))
    yield load_twins(monkeypatch)
    for name in HTTP_FUNCTIONS:
        sys.modules.pop(f"powertools_twin_{name}", None)


def _stable(result: dict[str, Any]) -> dict[str, Any]:
    """The result with what is new in every call by design replaced: Cognito's tokens, and the
    event id a click without a ``clickId`` is given (a fresh UUID)."""
    try:
        body = json.loads(result["body"])
    except (TypeError, ValueError):
        return result
    if not isinstance(body, dict):
        return result
    fresh = [key for key in ("idToken", "accessToken", "refreshToken") if key in body]
    if "eventId" in body:
        fresh.append("eventId")
    for key in fresh:
        assert isinstance(body[key], str) and body[key], key
        body[key] = f"<{key}>"
    return {**result, "body": json.dumps(body)} if fresh else result


def both(twins: dict[str, tuple[ModuleType, ModuleType]], function: str, event: dict[str, Any], context: Any):
    original, twin = twins[function]
    return _stable(original.handler(event, context)), _stable(twin.handler(event, context))


def _on_stage(event: dict[str, Any], stage: str) -> dict[str, Any]:
    event["requestContext"]["stage"] = stage
    event["rawPath"] = f"/{stage}{event['rawPath']}"
    return event


def _cases() -> list[tuple[str, str, Callable[[], dict[str, Any]]]]:
    """(id, function, event builder): built when the test runs, inside moto and the frozen clock."""
    demo = {"username": "demo", "password": "Demo-Passw0rd!2026"}
    bad_password = {"username": "demo", "password": "not-the-password"}
    cases: list[tuple[str, str, Callable[[], dict[str, Any]]]] = [
        # The real-world shapes in tests/events/.
        (
            "events/click_request_access_token",
            "clicks",
            lambda: load_event("click_request_access_token.json"),
        ),
        ("events/http_api_request", "hello", lambda: load_event("http_api_request.json")),
        ("events/login_request", "login", lambda: load_event("login_request.json")),
        ("events/login_request_base64", "login", lambda: load_event("login_request_base64.json")),
        (
            "events/slack_command",
            "slack_commands",
            lambda: signed(load_event("slack_command.json"), timestamp=NOW),
        ),
        (
            "events/slack_command_base64",
            "slack_commands",
            lambda: signed(load_event("slack_command_base64.json"), timestamp=NOW),
        ),
        (
            "events/slack_url_verification",
            "slack_commands",
            lambda: signed(load_event("slack_url_verification.json"), timestamp=NOW),
        ),
        ("events/web_asset_request", "web", lambda: load_event("web_asset_request.json")),
        ("events/web_default_route_browser", "web", lambda: load_event("web_default_route_browser.json")),
        # Every declared route.
        ("GET /health", "health", lambda: http_event("GET", "/health", authorized=False)),
        ("GET /config", "discovery", lambda: http_event("GET", "/config", authorized=False)),
        ("GET /hello", "hello", lambda: http_event("GET", "/hello")),
        (
            "POST /click",
            "clicks",
            lambda: http_event("POST", "/click", body={"clickId": "0d6c7b0e-4d1c-4b7e-9f4a-2f1e5d6c7b8a"}),
        ),
        ("POST /click without a body", "clicks", lambda: http_event("POST", "/click")),
        ("POST /login", "login", lambda: http_event("POST", "/login", body=demo, authorized=False)),
        (
            "POST /login wrong password",
            "login",
            lambda: http_event("POST", "/login", body=bad_password, authorized=False),
        ),
        ("POST /slack/commands", "slack_commands", lambda: signed_command("status", timestamp=NOW)),
        ("POST /slack/commands unknown", "slack_commands", lambda: signed_command("explode", timestamp=NOW)),
        (
            "POST /slack/events",
            "slack_commands",
            lambda: signed(events_api_event({"type": "event_callback", "team_id": "T0001"}), timestamp=NOW),
        ),
        ("GET /", "web", lambda: http_event("GET", "/", headers={"accept": "text/html"}, authorized=False)),
        ("GET /assets/ deep", "web", lambda: http_event("GET", "/assets/img/normal.svg", authorized=False)),
        ("GET /assets/ missing", "web", lambda: http_event("GET", "/assets/nothing.js", authorized=False)),
        ("GET unsafe path", "web", lambda: http_event("GET", "/assets/../x", authorized=False)),
        ("GET not found, JSON", "web", lambda: http_event("GET", "/nowhere", authorized=False)),
        # Errors through the exception handlers and middlewares.
        ("POST /click malformed JSON", "clicks", lambda: http_event("POST", "/click", body="{nope")),
        (
            "POST /click bad base64",
            "clicks",
            lambda: {**http_event("POST", "/click", body="x"), "body": "!!", "isBase64Encoded": True},
        ),
        ("POST /click not an object", "clicks", lambda: http_event("POST", "/click", body=[1, 2])),
        (
            "POST /click base64 body",
            "clicks",
            lambda: http_event("POST", "/click", body={}, base64_body=True),
        ),
        (
            "POST /login missing fields",
            "login",
            lambda: http_event("POST", "/login", body={}, authorized=False),
        ),
        ("POST /login empty body", "login", lambda: http_event("POST", "/login", authorized=False)),
        ("GET /hello without claims", "hello", lambda: http_event("GET", "/hello", authorized=False)),
        ("POST /slack/commands unsigned", "slack_commands", lambda: load_event("slack_command.json")),
        (
            "POST /slack/commands forged",
            "slack_commands",
            lambda: signed(load_event("slack_command.json"), timestamp=NOW, secret="forged"),
        ),
        (
            "POST /slack/commands ssl_check",
            "slack_commands",
            lambda: {
                **http_event(
                    "POST",
                    "/slack/commands",
                    body="ssl_check=1&token=x",
                    headers={"content-type": "application/x-www-form-urlencoded"},
                ),
                "isBase64Encoded": False,
            },
        ),
    ]
    # Not found, a wrong method and the stage prefix on each function.
    for function in HTTP_FUNCTIONS:
        cases.append(
            (f"{function}: GET /no/such/route", function, lambda: http_event("GET", "/no/such/route"))
        )
        cases.append((f"{function}: PUT /health", function, lambda: http_event("PUT", "/health")))
    cases += [
        ("GET /click (wrong method)", "clicks", lambda: http_event("GET", "/click")),
        ("POST /hello (wrong method)", "hello", lambda: http_event("POST", "/hello")),
        ("GET /prod/health on stage prod", "health", lambda: _on_stage(http_event("GET", "/health"), "prod")),
        ("GET /prod/hello on stage prod", "hello", lambda: _on_stage(http_event("GET", "/hello"), "prod")),
        (
            "GET /health on stage prod",
            "health",
            lambda: {
                **http_event("GET", "/health"),
                "requestContext": {**http_event("GET", "/health")["requestContext"], "stage": "prod"},
            },
        ),
        (
            "GET /prod/assets/app.js on stage prod",
            "web",
            lambda: _on_stage(http_event("GET", "/assets/js/app.js"), "prod"),
        ),
        (
            "GET /health?x=1&x=2",
            "health",
            lambda: {
                **http_event("GET", "/health"),
                "rawQueryString": "x=1&x=2",
                "queryStringParameters": {"x": "1,2"},
            },
        ),
        ("GET /HELLO (case)", "hello", lambda: http_event("GET", "/HELLO")),
        ("get /hello (lower-case method)", "hello", lambda: http_event("get", "/hello")),
        ("GET /hello/ (trailing slash)", "hello", lambda: http_event("GET", "/hello/")),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize(("function", "build"), [(f, b) for _, f, b in CASES], ids=[i for i, _, _ in CASES])
def test_router_answers_as_powertools_resolver(aws, twins, context, function, build):
    event = build()

    ours, powertools = both(twins, function, event, context)

    assert ours == powertools


def test_a_failed_region_answers_503_through_both(aws, twins, context):
    set_chaos(failed=True)

    for function, path in (("hello", "/hello"), ("clicks", "/click"), ("health", "/health")):
        ours, powertools = both(
            twins, function, http_event("GET" if path != "/click" else "POST", path), context
        )
        assert ours == powertools
        assert ours["statusCode"] == 503


def test_an_injected_failure_answers_through_both_exception_handlers(aws, twins, context):
    set_chaos(errorRate=1.0)

    ours, powertools = both(twins, "clicks", http_event("POST", "/click"), context)

    assert ours == powertools
    assert ours["statusCode"] == 500
    assert json.loads(ours["body"])["retry"] is True


def test_an_unexpected_error_is_answered_500_by_both(aws, twins, context, monkeypatch):
    from shared import registry

    def broken() -> None:
        raise RuntimeError("the registry is broken")

    monkeypatch.setattr(registry, "regions", broken)

    ours, powertools = both(twins, "discovery", http_event("GET", "/config"), context)

    assert ours == powertools
    assert ours["statusCode"] == 500


def test_where_they_differ_a_final_newline_in_the_path_is_no_route_here(aws, twins, context):
    """The one difference kept. Powertools compiles a rule to ``^rule$``, and ``$`` also matches
    before a final newline, so it sends ``/click\\n`` (an HTTP API delivers ``rawPath``
    percent-decoded, so ``/click%0A`` arrives so) to the click handler and a click is counted;
    shared.router matches the whole path (``fullmatch``) and answers 404. A path that ends in a
    newline is not the route's path, and counting a click for it would be wrong."""
    # rawPath decoded by HTTP APIs: https://github.com/middleapi/standard-server/pull/93
    event = http_event("POST", "/click\n", body={"clickId": "0d6c7b0e-4d1c-4b7e-9f4a-2f1e5d6c7b8a"})

    ours, powertools = both(twins, "clicks", event, context)

    assert ours["statusCode"] == 404
    assert json.loads(ours["body"]) == {"error": "no route for POST /click\n"}
    assert powertools["statusCode"] == 200
