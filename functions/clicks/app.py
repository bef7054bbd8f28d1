"""POST /click (JWT), optional body ``{"clickId": "<uuid>"}``: count a page view.

200 ``{views, message: "page viewed N times" ("1 time"), region, image, eventId}``, the clicked
image from the function's own package (``shared.images.from_package``). With probability
``errorRate`` (this region's chaos state) the request fails on purpose: 500 ``{error, retry: true,
image: the error image, region}``, counted as the InjectedFailures and HandledErrors metrics,
nothing put on the bus.

Environment: TABLE_NAME, BUS_NAME, EVENT_SOURCE (see ``clicks.logic``), CHAOS_PARAMETER_PREFIX
(region guard and errorRate), AWS_REGION,
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from clicks.logic import Clicks, InjectedFailure, event_id_from
from shared import aws, chaos, coldstart, images
from shared.http import (
    count_handled_error,
    create_resolver,
    error_response,
    json_object_body,
    json_response,
    jwt_claims,
    username_from,
)
from shared.router import Response
from shared.text import counted

logger, metrics = Logger(), Metrics()
app = create_resolver()


@app.post("/click")
def click() -> Response:
    claims = jwt_claims(app)
    event_id = event_id_from(json_object_body(app, required=False))
    clicks = Clicks.from_environment()
    clicks.inject_failure(chaos.current().error_rate)
    views = clicks.views(claims["sub"]) + 1
    image = images.from_package("clicked")
    clicks.publish(clicks.page_view(event_id, claims["sub"], username_from(claims)))
    return json_response(
        200,
        {
            "views": views,
            "message": f"page viewed {counted(views, 'time')}",
            "region": clicks.region,
            "image": image,
            "eventId": event_id,
        },
        headers={"Cache-Control": "no-store"},
    )


@app.exception_handler(InjectedFailure)
def injected_failure(error: InjectedFailure) -> Response:
    metrics.add_metric(name="InjectedFailures", unit=MetricUnit.Count, value=1)
    count_handled_error()
    logger.warning("injected failure", extra={"reason": str(error)})
    return error_response(
        500, f"injected failure: {error}", retry=True, image=images.from_package("error"), region=aws.region()
    )


@coldstart.collect_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
