"""The local API gateway: route matching, throttling, payload limits and the integration timeout,
answered with API Gateway's own status codes and messages."""

from __future__ import annotations

import json
import threading
import time

from werkzeug.test import Client

from localcloud import gateway
from localcloud.runner import GaveUp


class FakeFunction:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.events: list[dict] = []

    def invoke(self, event, *, wait=False, patience=None):
        self.events.append(event)
        time.sleep(self.delay)
        return {"statusCode": 200, "body": json.dumps({"route": event["routeKey"]}), "headers": {}}


def api(*routes: gateway.Route, rate: float = 1000, burst: int = 1000) -> Client:
    app = gateway.Api(
        name="user-http-api",
        region="us-east-1",
        api_id="abc123",
        routes=list(routes),
        stage_bucket=gateway.TokenBucket(rate, burst),
        cors=None,
        access_log=lambda entry: None,
    )
    return Client(app)


def route(key: str, function=None, **settings) -> gateway.Route:
    method, _, path = key.partition(" ")
    return gateway.Route(
        method=method if path else "",
        path=path,
        key=key,
        function=function or FakeFunction(),
        authorizer=None,
        **{"bucket": None, **settings},
    )


def test_exact_route_wins_over_a_greedy_one_and_default_catches_the_rest():
    client = api(route("GET /assets/{proxy+}"), route("GET /assets/app.js"), route("$default"))
    assert client.get("/assets/app.js").json == {"route": "GET /assets/app.js"}
    assert client.get("/assets/img/a.svg").json == {"route": "GET /assets/{proxy+}"}
    assert client.post("/assets/app.js").json == {"route": "$default"}


def test_greedy_route_passes_its_path_parameter():
    function = FakeFunction()
    api(route("GET /assets/{proxy+}", function)).get("/assets/images/normal.svg")
    assert function.events[0]["pathParameters"] == {"proxy": "images/normal.svg"}


def test_no_matching_route_and_no_default_answers_404_like_api_gateway():
    response = api(route("GET /health")).get("/nope")
    assert response.status_code == 404
    assert response.json == {"message": "Not Found"}


def test_requests_over_the_stage_burst_get_429_too_many_requests():
    client = api(route("GET /health"), rate=0.001, burst=2)
    statuses = [client.get("/health").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert client.get("/health").json == {"message": "Too Many Requests"}


def test_route_throttle_is_stricter_than_the_stage():
    strict = route("POST /login", bucket=gateway.TokenBucket(0.001, 1))
    client = api(strict, route("GET /health"))
    assert [client.post("/login").status_code for _ in range(2)] == [200, 429]
    assert client.get("/health").status_code == 200


def test_body_over_10_mb_is_refused_with_413():
    response = api(route("POST /click")).post("/click", data=b"x" * (gateway.MAX_PAYLOAD_BYTES + 1))
    assert response.status_code == 413
    assert response.json == {"message": "Request Entity Too Large"}


class StuckFunction:
    """Answers only once the test lets it, so only the caller's patience can end a request (the
    runner's own, tested in test_runner.py, raises GaveUp as this does)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.patience: float | None = None

    def invoke(self, event, *, wait=False, patience=None):
        self.patience = patience
        if not self.release.wait(timeout=patience):
            raise GaveUp("stopped waiting")
        return {"statusCode": 200, "body": "{}", "headers": {}}


def test_slow_integration_gets_503_at_the_integration_timeout():
    stuck = StuckFunction()
    client = api(route("GET /slow", stuck, timeout=0.2))
    try:
        response = client.get("/slow")
    finally:
        stuck.release.set()
    assert response.status_code == 503
    assert response.json == {"message": "Service Unavailable"}
    assert stuck.patience == 0.2  # the integration's timeout


def test_binary_body_reaches_the_function_base64_encoded():
    function = FakeFunction()
    api(route("POST /upload", function)).post(
        "/upload", data=b"\x00\x01", content_type="application/octet-stream"
    )
    event = function.events[0]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "AAE="


class BrokenFunction:
    def invoke(self, event, *, wait=False, patience=None):
        raise BrokenPipeError("the worker's pipe is closed")


def test_an_unexpected_invocation_failure_is_api_gateways_json_500_not_an_html_page():
    response = api(route("GET /hello", BrokenFunction())).get("/hello")
    assert response.status_code == 500
    assert response.json == {"message": "Internal Server Error"}


def test_build_event_gives_the_event_the_gateway_would_send():
    function = FakeFunction()
    client_api = gateway.Api(
        name="user-http-api",
        region="us-east-1",
        api_id="abc123",
        routes=[route("POST /click", function)],
        stage_bucket=gateway.TokenBucket(1000, 1000),
        cors=None,
        access_log=lambda entry: None,
    )
    matched, event = client_api.build_event(
        "POST", "/click", headers={"content-type": "application/json"}, body=b'{"a": 1}'
    )
    Client(client_api).post("/click", data=b'{"a": 1}', headers={"content-type": "application/json"})
    sent = function.events[0]
    assert matched.key == "POST /click"
    for field in ("routeKey", "rawPath", "body", "isBase64Encoded"):
        assert event[field] == sent[field]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_a_route_without_its_invoke_permission_answers_500_and_logs_the_integration_error():
    function = FakeFunction()
    entries: list[dict] = []
    app = gateway.Api(
        name="user-http-api",
        region="us-east-1",
        api_id="abc123",
        routes=[route("POST /click", function, permitted=False)],
        stage_bucket=gateway.TokenBucket(1000, 1000),
        cors=None,
        access_log=entries.append,
    )
    response = Client(app).post("/click", data=b"{}")
    assert response.status_code == 500
    assert response.json == {"message": "Internal Server Error"}
    assert function.events == []  # Lambda refused it: the function never ran
    assert entries[-1]["integrationError"] == gateway.NO_INVOKE_PERMISSION
