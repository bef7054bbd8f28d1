"""EventBridge target (asynchronous invoke): store one PageViewed event exactly once.

Raising hands the event back to Lambda's asynchronous retries and then to the on-failure
destination (the dead letter queue); a duplicate delivery returns normally.

Environment: TABLE_NAME, CHAOS_PARAMETER_PREFIX, AWS_REGION (see ``writer.logic``), and
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from writer.logic import Writer

# Asynchronous: no caller waits on the cold start, so the X-Ray SDK may cost its import time
# here and trace each AWS call as a subsegment.
logger, tracer, metrics = Logger(), Tracer(), Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    return Writer.from_environment(metrics).handle(event)
