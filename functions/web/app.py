"""The web app, served from the static bucket by each region (public, never region-guarded).

- ``GET /`` -> ``index.html``; ``GET /assets/{proxy+}`` -> ``assets/<path>`` (any depth).
- Anything else (the ``$default`` route), or a missing object -> the custom 404: the bucket's
  ``404.html`` for browsers (Accept prefers text/html), else ``{"error": "not found: ..."}``.
- An unsafe path gets 400 before anything is read (``web.logic.is_safe_path``).

Every answer here is a response, not an exception, so the security-headers middleware sees and
protects each one. The page may call every region's API, so ``connect-src`` lists them all.

Environment: STATIC_BUCKET (``web.logic``), REGISTRY_PATH and PRIMARY_REGION
(``shared.registry``), AWS_REGION, POWERTOOLS_SERVICE_NAME.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import coldstart, registry
from shared.http import create_resolver, error_response
from shared.parameters import ParameterError
from shared.router import NextMiddleware, Response, Router
from web import logic

HTML = logic.CONTENT_TYPES[".html"].mime

logger = Logger()
app = create_resolver(guard_region=False)


def region_api_origins() -> list[str]:
    """Every region's API origin; with the registry unreachable (its region may be the one that is
    down), the page is still served and may call this region only."""
    try:
        regions = registry.regions()
    except ParameterError as error:
        logger.warning(
            "region registry unreachable; connect-src allows this region only", extra={"reason": str(error)}
        )
        return []
    return logic.api_origins(entry.api for entry in regions.values())


def secure_headers(app: Router, next_middleware: NextMiddleware) -> Response:
    response = next_middleware(app)
    html = response.body if isinstance(response.body, str) and response.content_type == HTML else ""
    policy = logic.content_security_policy(region_api_origins(), logic.inline_style_hashes(html))
    response.headers.update(logic.security_headers(policy))
    return response


def reject_unsafe_paths(app: Router, next_middleware: NextMiddleware) -> Response:
    if not logic.is_safe_path(app.current_event.path):
        return error_response(
            400, "invalid path: use letters, digits, '.', '-' and '_' in names separated by single '/'"
        )
    return next_middleware(app)


app.use(middlewares=[secure_headers, reject_unsafe_paths])


@app.get("/")
def index() -> Response:
    return serve(logic.INDEX_KEY)


# A regex route: assets live at any depth.
@app.get("/assets/.+")
def asset() -> Response:
    return serve(app.current_event.path.removeprefix("/"))


@app.not_found
def not_found() -> Response:
    return not_found_response()


def not_found_response() -> Response:
    event = app.current_event
    if logic.prefers_html(event.header("accept") or ""):
        page = logic.StaticSite.from_environment().read(logic.NOT_FOUND_KEY)
        if page is not None:
            return Response(
                status_code=404,
                content_type=HTML,
                body=page.decode("utf-8"),
                headers={"Cache-Control": logic.PAGE_CACHE_CONTROL},
            )
    return error_response(404, f"not found: {event.method} {event.path}")


def serve(key: str) -> Response:
    content_type = logic.content_type_for(key)
    body = logic.StaticSite.from_environment().read(key) if content_type else None
    if content_type is None or body is None:
        return not_found_response()
    return Response(
        status_code=200,
        content_type=content_type.mime,
        body=body if content_type.binary else body.decode("utf-8"),
        headers={"Cache-Control": logic.cache_control_for(key)},
    )


@coldstart.collect_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
