"""Invoked directly by the failed-logins CloudWatch alarm (Lambda alarm action).

On ALARM it posts the window's top offending usernames and source IPs to Slack; on OK, that
failed logins are back to normal. A malformed event or a Slack failure raises, so Lambda
retries and then hands the event to the on-failure destination.

Environment: TABLE_NAME, SLACK_WEBHOOK_PARAMETER, SECURITY_WINDOW_MINUTES (see
``security.logic``), and POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import CloudWatchAlarmEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from security.logic import SecurityResponder

# Asynchronous: no caller waits on the cold start, so the X-Ray SDK may cost its import time
# here and trace each AWS call as a subsegment.
logger, tracer, metrics = Logger(), Tracer(), Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=CloudWatchAlarmEvent)
def handler(event: CloudWatchAlarmEvent, context: LambdaContext) -> dict:
    return SecurityResponder.from_environment(metrics).handle(event)
