"""CloudWatch, locally: one module per idea. ``metrics`` (the metric store: datapoints, series,
statistics, written to moto), ``emf`` (metrics from embedded metric format log lines),
``aws_metrics`` (the metrics Lambda, API Gateway, SQS and DynamoDB publish), ``metric_math``
(expressions), ``alarms`` (a MetricAlarm's datapoints and state), ``actions`` (what a state change
does), ``evaluator`` (one region's evaluation loop), ``service`` (``CloudWatch``: every region's
metrics and alarms, started and stopped together) and ``dashboard`` (the dashboards page).
"""
