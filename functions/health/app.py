"""GET /health (no auth): 200 ``{region, status: "ok"}``, or 503 while the region is failed.

Route 53 health checks and the browser's region picker read this, so it answers from the
chaos state alone and touches nothing else.

Environment: CHAOS_PARAMETER_PREFIX (see ``shared.chaos``), AWS_REGION.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import aws, chaos, coldstart
from shared.http import create_resolver, json_response

logger = Logger()
app = create_resolver(guard_region=False)


@app.get("/health")
def health():
    region = aws.region()
    if chaos.current().failed:
        return json_response(503, {"region": region, "status": "failed"})
    return json_response(200, {"region": region, "status": "ok"}, headers={"Cache-Control": "no-store"})


@coldstart.collect_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
