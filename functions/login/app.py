"""POST /login (public): ``{username, password}`` -> 200 ``{idToken, accessToken, refreshToken,
expiresIn}``, or 401 ``{"error": ...}``. Every attempt is recorded (``login.logic``).

Passwords and tokens never reach a log or a trace: the event is never logged, and no tracing SDK
runs here (Lambda's active tracing records the invocation only, never its payload).

Environment: TABLE_NAME, USER_POOL_CLIENT_ID, USER_POOL_REGION (see ``login.logic``),
CHAOS_PARAMETER_PREFIX (region guard), AWS_REGION, POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from login.logic import Login
from shared import coldstart
from shared.http import create_resolver, json_object_body, json_response, require_string
from shared.router import Response

MAX_USERNAME_LENGTH = 128
MAX_PASSWORD_LENGTH = 256

logger, metrics = Logger(), Metrics()
app = create_resolver()


@app.post("/login")
def login() -> Response:
    body = json_object_body(app)
    username = require_string(body, "username", max_length=MAX_USERNAME_LENGTH)
    password = require_string(body, "password", max_length=MAX_PASSWORD_LENGTH)
    source_ip = app.current_event.source_ip
    tokens = Login.from_environment(metrics).attempt(username, password, source_ip)
    return json_response(200, tokens.to_json(), headers={"Cache-Control": "no-store"})


@coldstart.collect_after_first_call
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
