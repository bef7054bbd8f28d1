"""SNS subscription of the alarm topic: post each notification to Slack.

A webhook failure raises, so Lambda retries the notification and finally hands it to the
on-failure destination; it is never swallowed.

Environment: SLACK_WEBHOOK_PARAMETER (see ``notifier.logic``), and POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from notifier.logic import Notifier

# Asynchronous: no caller waits on the cold start, so the X-Ray SDK may cost its import time
# here and trace each AWS call as a subsegment.
logger, tracer, metrics = Logger(), Tracer(), Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SNSEvent)
def handler(event: SNSEvent, context: LambdaContext) -> dict:
    return Notifier(metrics).handle(event)
