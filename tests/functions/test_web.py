"""The web app from the static bucket: pages, assets at any depth, the custom 404, safe paths and
security headers."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import APP, BUCKET, PRIMARY, ROOT, SECONDARY, body_of, http_event, load_event, set_chaos

BROWSER_ACCEPT = load_event("web_default_route_browser.json")["headers"]["accept"]
NOT_FOUND_PAGE = (ROOT / "static" / "404.html").read_text()
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def handler():
    from web.app import handler

    return handler


@pytest.fixture
def s3(aws) -> Any:
    """The function's own S3 client, stubbed: with nothing queued, any read fails the request."""
    from shared import aws as shared_aws

    with Stubber(shared_aws.client("s3")) as stub:
        yield stub


def put_object(key: str, body: bytes | str) -> None:
    data = body.encode() if isinstance(body, str) else body
    boto3.client("s3", region_name=PRIMARY).put_object(Bucket=BUCKET, Key=key, Body=data)


def get(path: str, *, accept: str = "application/json", route_key: str = "$default") -> dict[str, Any]:
    return http_event("GET", path, authorized=False, headers={"accept": accept}, route_key=route_key)


def text_of(response: dict[str, Any]) -> str:
    assert response["isBase64Encoded"] is False
    return response["body"]


def csp_of(response: dict[str, Any]) -> dict[str, list[str]]:
    directives = [part.split() for part in response["headers"]["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in directives}


def test_root_serves_index_html_as_a_page(aws, context, handler):
    put_object("index.html", "<!doctype html><title>app</title>")

    response = handler(get("/", accept=BROWSER_ACCEPT, route_key="GET /"), context)

    assert response["statusCode"] == 200
    assert text_of(response) == "<!doctype html><title>app</title>"
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert response["headers"]["Cache-Control"] == "no-cache"


def test_asset_at_any_depth_is_served_from_the_assets_prefix(aws, context, handler):
    put_object("assets/js/app.js", "export const ready = true;\n")

    response = handler(load_event("web_asset_request.json"), context)

    assert response["statusCode"] == 200
    assert text_of(response) == "export const ready = true;\n"
    assert response["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["headers"]["Cache-Control"] == "public, max-age=300"


def test_deployed_image_is_served_as_svg(aws, context, handler):
    response = handler(get("/assets/images/normal.svg", route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "image/svg+xml"
    assert text_of(response).encode() == (ROOT / "static/assets/images/normal.svg").read_bytes()


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("assets/css/site.css", "text/css; charset=utf-8"),
        ("assets/data/regions.json", "application/json"),
        ("assets/licenses.txt", "text/plain; charset=utf-8"),
        ("assets/pages/help.html", "text/html; charset=utf-8"),
        ("assets/UPPER.CSS", "text/css; charset=utf-8"),
    ],
)
def test_text_asset_content_type_follows_its_extension(aws, context, handler, key, content_type):
    put_object(key, "text")

    response = handler(get(f"/{key}", route_key="GET /assets/{proxy+}"), context)

    assert response["headers"]["Content-Type"] == content_type
    assert text_of(response) == "text"


@pytest.mark.parametrize(
    ("key", "content_type"), [("assets/logo.png", "image/png"), ("assets/favicon.ico", "image/x-icon")]
)
def test_binary_asset_is_base64_encoded(aws, context, handler, key, content_type):
    put_object(key, PNG)

    response = handler(get(f"/{key}", route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == content_type
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == PNG


def test_page_carries_security_headers(aws, context, handler):
    put_object("index.html", "<p>app</p>")

    response = handler(get("/", accept=BROWSER_ACCEPT, route_key="GET /"), context)

    headers = response["headers"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    policy = csp_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_csp_lets_the_page_call_every_regions_api(aws, context, handler):
    put_object("index.html", "<p>app</p>")

    response = handler(get("/", accept=BROWSER_ACCEPT, route_key="GET /"), context)

    assert csp_of(response)["connect-src"] == [
        "'self'",
        f"https://api-{PRIMARY}.example.com",
        f"https://api-{SECONDARY}.example.com",
    ]


def test_csp_leaves_out_a_registry_url_that_is_not_a_plain_origin(aws, context, handler):
    boto3.client("ssm", region_name=PRIMARY).put_parameter(
        Name=f"/{APP}/regions/eu-west-1",
        Type="String",
        Value=json.dumps({"api": "https://evil.example.com; script-src *"}),
    )

    response = handler(get("/nothing"), context)

    header = response["headers"]["Content-Security-Policy"]
    assert "evil" not in header
    assert "script-src" not in header
    assert f"https://api-{SECONDARY}.example.com" in csp_of(response)["connect-src"]


def test_page_is_served_with_self_only_connect_src_when_registry_unreachable(aws, context, handler):
    from shared import aws as shared_aws

    put_object("index.html", "<p>app</p>")
    with Stubber(shared_aws.client("ssm", PRIMARY)) as ssm:
        ssm.add_client_error("get_parameters_by_path", "InternalServerError", http_status_code=500)
        response = handler(get("/", accept=BROWSER_ACCEPT, route_key="GET /"), context)

    assert response["statusCode"] == 200
    assert csp_of(response)["connect-src"] == ["'self'"]


def test_missing_asset_for_a_browser_returns_the_404_page(aws, context, handler):
    response = handler(
        get("/assets/nope.js", accept=BROWSER_ACCEPT, route_key="GET /assets/{proxy+}"), context
    )

    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert text_of(response) == NOT_FOUND_PAGE


def test_missing_asset_for_an_api_client_returns_json_404(aws, context, handler):
    response = handler(get("/assets/nope.js", accept="*/*", route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 404
    assert body_of(response) == {"error": "not found: GET /assets/nope.js"}


def test_missing_index_for_a_browser_returns_the_404_page(aws, context, handler):
    boto3.client("s3", region_name=PRIMARY).delete_object(Bucket=BUCKET, Key="index.html")

    response = handler(get("/", accept=BROWSER_ACCEPT, route_key="GET /"), context)

    assert response["statusCode"] == 404
    assert text_of(response) == NOT_FOUND_PAGE


def test_unknown_route_for_a_browser_returns_the_404_page(aws, context, handler):
    response = handler(load_event("web_default_route_browser.json"), context)

    assert response["statusCode"] == 404
    assert text_of(response) == NOT_FOUND_PAGE
    assert response["headers"]["Cache-Control"] == "no-cache"


def test_unknown_route_for_an_api_client_returns_json_404(aws, context, handler):
    response = handler(get("/no/such/route"), context)

    assert response["statusCode"] == 404
    assert body_of(response) == {"error": "not found: GET /no/such/route"}


def test_post_to_the_site_returns_json_404(aws, context, handler):
    event = http_event("POST", "/", body={"a": 1}, authorized=False, route_key="$default")

    response = handler(event, context)

    assert response["statusCode"] == 404
    assert body_of(response) == {"error": "not found: POST /"}


def test_404_page_csp_allows_its_own_inline_style_by_hash(aws, context, handler):
    [style] = re.findall(r"<style>(.*?)</style>", NOT_FOUND_PAGE, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()

    response = handler(load_event("web_default_route_browser.json"), context)

    assert csp_of(response)["style-src"] == ["'self'", f"'sha256-{digest}'"]


def test_404_json_carries_security_headers(aws, context, handler):
    response = handler(get("/no/such/route"), context)

    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    assert csp_of(response)["style-src"] == ["'self'"]


def test_browser_gets_json_404_when_the_404_page_is_missing(aws, context, handler):
    boto3.client("s3", region_name=PRIMARY).delete_object(Bucket=BUCKET, Key="404.html")

    response = handler(get("/nowhere", accept=BROWSER_ACCEPT), context)

    assert response["statusCode"] == 404
    assert body_of(response) == {"error": "not found: GET /nowhere"}


def test_asset_of_an_unserved_type_is_not_found_without_reading_s3(aws, context, handler, s3):
    response = handler(get("/assets/backup.tar", route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 404
    assert body_of(response) == {"error": "not found: GET /assets/backup.tar"}


def test_object_s3_refuses_to_read_is_not_found(aws, context, handler, s3):
    s3.add_client_error("get_object", "AccessDenied", http_status_code=403)

    response = handler(get("/assets/secret.js", route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 404
    s3.assert_no_pending_responses()


def test_other_s3_failure_returns_500(aws, context, handler, s3):
    s3.add_client_error("get_object", "SlowDown", http_status_code=503)

    response = handler(get("/assets/app.js", route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 500
    assert body_of(response) == {"error": "internal error; please retry"}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/assets/../index.html", id="dot-dot"),
        pytest.param("/assets/js/../../404.html", id="dot-dot-deep"),
        pytest.param("/assets/./app.js", id="dot-segment"),
        pytest.param("/assets/%2e%2e/index.html", id="percent-encoded-dots"),
        pytest.param("/assets/..%2f404.html", id="percent-encoded-slash"),
        pytest.param("/assets/%252e%252e/app.js", id="double-encoded"),
        pytest.param("/assets/js\\..\\app.js", id="backslash"),
        pytest.param("/assets/app.js\x00.png", id="nul"),
        pytest.param("/assets//etc/passwd", id="absolute-after-prefix"),
        pytest.param("/assets/.env", id="hidden-file"),
        pytest.param("/assets/a b.js", id="space"),
        pytest.param("/assets/caf\u00e9.js", id="non-ascii"),
        pytest.param("/assets/app.js\n", id="newline"),
        pytest.param("/assets/" + "a" * 520 + ".js", id="too-long"),
        pytest.param("/../etc/passwd", id="dot-dot-outside-assets"),
        pytest.param("//index.html", id="double-slash-root"),
    ],
)
def test_unsafe_path_returns_400_without_reading_s3(aws, context, handler, s3, path):
    response = handler(get(path, accept=BROWSER_ACCEPT, route_key="GET /assets/{proxy+}"), context)

    assert response["statusCode"] == 400
    assert body_of(response)["error"].startswith("invalid path")
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"


def test_site_is_served_while_the_region_is_failed(aws, context, handler):
    put_object("index.html", "<p>app</p>")
    set_chaos(PRIMARY, failed=True)

    response = handler(get("/", accept=BROWSER_ACCEPT, route_key="GET /"), context)

    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("text/*", True),
        ("application/json;q=0.5, text/html", True),
        ("text/html, application/json", True),
        ("*/*", False),
        ("application/json", False),
        ("", False),
        ("text/html;q=0.1, application/json", False),
        ("text/html;q=0", False),
        ("text/html;q=high", False),
        ("application/*, text/html;q=0.9", False),
    ],
)
def test_html_is_preferred_only_when_accept_ranks_it_at_least_as_high_as_json(accept, html):
    from web.logic import prefers_html

    assert prefers_html(accept) is html
