"""GET /config (public): what the browser needs to use every region.

``{region, primaryRegion, regions: [{region, api}], cognito: {region, userPoolId, clientId}}``.
Never region-guarded: a browser that lands on a failed region must still learn the others.

Environment: REGISTRY_PATH, PRIMARY_REGION (``shared.registry``; Cognito lives in the primary
region), USER_POOL_ID, USER_POOL_CLIENT_ID, AWS_REGION, POWERTOOLS_SERVICE_NAME.
"""

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import aws, coldstart, registry
from shared.http import create_resolver, json_response
from shared.router import Response

# As long as the registry's own cache: a new region reaches browsers within a minute.
CACHE_CONTROL = f"public, max-age={registry.MAX_AGE_SECONDS}"

logger = Logger()
app = create_resolver(guard_region=False)


@app.get("/config")
def config() -> Response:
    primary = os.environ["PRIMARY_REGION"]
    return json_response(
        200,
        {
            "region": aws.region(),
            "primaryRegion": primary,
            "regions": [{"region": entry.region, "api": entry.api} for entry in registry.regions().values()],
            "cognito": {
                "region": primary,
                "userPoolId": os.environ["USER_POOL_ID"],
                "clientId": os.environ["USER_POOL_CLIENT_ID"],
            },
        },
        headers={"Cache-Control": CACHE_CONTROL},
    )


@coldstart.collect_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
