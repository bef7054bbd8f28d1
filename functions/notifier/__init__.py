"""The alarm notifier: CloudWatch alarm notifications from SNS to Slack (Block Kit)."""
