"""SQS event source on the dead letter queue (ReportBatchItemFailures).

Each record is handled on its own: one that cannot be recorded or alerted is reported as a
batch item failure and comes back later, while the rest of the batch is deleted.

Environment: TABLE_NAME, SLACK_WEBHOOK_PARAMETER, AWS_REGION (see ``dead_letters.logic``), and
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from dead_letters.logic import DeadLetterHandler
from shared import coldstart
from shared.batch import process_sqs_batch

# No tracing SDK: with active tracing Lambda records each invocation's segments without one
# (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html), and importing the X-Ray SDK
# (aws_xray_sdk, wrapt, asyncio, a botocore session of its own) was over half of this function's
# cold start. Per-call subsegments would need it; the SDK is in maintenance mode since
# 2026-02-25 (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-lambda.html).
logger, metrics = Logger(), Metrics()


@coldstart.collect_after_first_call
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, DeadLetterHandler.from_environment(metrics))
