"""The dead letter handler: records each dead event and alerts Slack (SQS event source)."""
