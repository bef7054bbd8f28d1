"""Invoked directly by the failed-logins CloudWatch alarm (Lambda alarm action).

On ALARM it posts the window's top offending usernames and source IPs to Slack; on OK, that
failed logins are back to normal. A malformed event or a Slack failure raises, so Lambda
retries and then hands the event to the on-failure destination.

Environment: TABLE_NAME, SLACK_WEBHOOK_PARAMETER, SECURITY_WINDOW_MINUTES (see
``security.logic``), and POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from security.logic import SecurityResponder
from shared import coldstart

# No tracing SDK: with active tracing Lambda records each invocation's segments without one
# (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html), and importing the X-Ray SDK
# (aws_xray_sdk, wrapt, asyncio, a botocore session of its own) was over half of this function's
# cold start. Per-call subsegments would need it; the SDK is in maintenance mode since
# 2026-02-25 (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-lambda.html).
logger, metrics = Logger(), Metrics()


@coldstart.collect_after_first_call
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return SecurityResponder.from_environment(metrics).handle(event)
