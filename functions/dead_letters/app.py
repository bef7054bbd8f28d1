"""SQS event source on the dead letter queue (ReportBatchItemFailures).

Each record is handled on its own: one that cannot be recorded or alerted is reported as a
batch item failure and comes back later, while the rest of the batch is deleted.

Environment: TABLE_NAME, SLACK_WEBHOOK_PARAMETER, AWS_REGION (see ``dead_letters.logic``), and
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from dead_letters.logic import DeadLetterHandler

# Asynchronous: no caller waits on the cold start, so the X-Ray SDK may cost its import time
# here and trace each AWS call as a subsegment.
logger, tracer, metrics = Logger(), Tracer(), Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event, DeadLetterHandler.from_environment(metrics), processor, context)
