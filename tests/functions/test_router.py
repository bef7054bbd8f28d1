"""shared.router: the parts of Powertools' resolver behaviour the functions' own tests don't reach."""

from __future__ import annotations

import base64

from conftest import http_event
from shared.router import NextMiddleware, Response, Router


def _app() -> Router:
    app = Router()

    @app.get("/files/.+")
    def files() -> Response:
        return Response(200, "application/octet-stream", b"\x00\xff")

    return app


def test_stage_prefix_is_removed_from_the_path_unless_the_stage_is_default():
    app = _app()
    event = http_event("GET", "/prod/files/a/b.bin")
    event["requestContext"]["stage"] = "prod"

    response = app.resolve(event, None)

    assert response["statusCode"] == 200


def test_bytes_body_is_base64_encoded_with_the_flag_set():
    response = _app().resolve(http_event("GET", "/files/x.bin"), None)

    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\x00\xff"
    assert response["headers"] == {"Content-Type": "application/octet-stream"}
    assert response["cookies"] == []


def test_a_rule_must_match_the_whole_path():
    response = _app().resolve(http_event("GET", "/files/"), None)

    assert response["statusCode"] == 404


def test_middlewares_wrap_the_not_found_handler_outermost_first():
    app, order = _app(), []

    def outer(router: Router, next_middleware: NextMiddleware) -> Response:
        order.append("outer")
        response = next_middleware(router)
        response.headers["X-Outer"] = "1"
        return response

    def inner(router: Router, next_middleware: NextMiddleware) -> Response:
        order.append("inner")
        return next_middleware(router)

    app.use(middlewares=[outer, inner])
    response = app.resolve(http_event("GET", "/nowhere"), None)

    assert order == ["outer", "inner"]
    assert response["statusCode"] == 404
    assert response["headers"]["X-Outer"] == "1"


def test_the_nearest_exception_handler_answers_and_the_context_is_cleared():
    app = Router()

    class Specific(LookupError):
        pass

    @app.get("/boom")
    def boom() -> Response:
        app.append_context(seen=True)
        raise Specific("x")

    @app.exception_handler(Exception)
    def anything(_: Exception) -> Response:
        return Response(500)

    @app.exception_handler(LookupError)
    def lookup(_: LookupError) -> Response:
        return Response(409)

    response = app.resolve(http_event("GET", "/boom"), None)

    assert response["statusCode"] == 409
    assert app.context == {}


def test_headers_are_read_case_insensitively():
    app = Router()

    @app.get("/echo")
    def echo() -> Response:
        return Response(200, "text/plain", app.current_event.header("X-Custom") or "")

    response = app.resolve(http_event("GET", "/echo", headers={"X-CUSTOM": "yes"}), None)

    assert response["body"] == "yes"
