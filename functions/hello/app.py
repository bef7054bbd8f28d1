"""GET /hello (JWT): ``{message: "hello from <region>", region, username, image}``.

The image is the "normal" picture from the static bucket, as a data URI. Both token kinds the
authorizer accepts work: ID tokens name the user in ``cognito:username``, access tokens in
``username``.

Environment: STATIC_BUCKET (the image's bucket), CHAOS_PARAMETER_PREFIX (region guard),
AWS_REGION, POWERTOOLS_SERVICE_NAME.
"""

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import aws, coldstart, images
from shared.http import create_resolver, json_response, jwt_claims, username_from
from shared.router import Response

logger = Logger()
app = create_resolver()


@app.get("/hello")
def hello() -> Response:
    username = username_from(jwt_claims(app))
    region = aws.region()
    return json_response(
        200,
        {
            "message": f"hello from {region}",
            "region": region,
            "username": username,
            "image": images.from_bucket(os.environ["STATIC_BUCKET"], "normal"),
        },
        headers={"Cache-Control": "no-store"},
    )


@coldstart.collect_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
