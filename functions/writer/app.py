"""EventBridge target (asynchronous invoke): store one PageViewed event exactly once.

Raising hands the event back to Lambda's asynchronous retries and then to the on-failure
destination (the dead letter queue); a duplicate delivery returns normally.

Environment: TABLE_NAME, CHAOS_PARAMETER_PREFIX, AWS_REGION (see ``writer.logic``), and
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import coldstart
from writer.logic import Writer

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
    return Writer.from_environment(metrics).handle(event)
