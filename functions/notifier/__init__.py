"""The alarm notifier: CloudWatch alarm notifications from SNS to Slack (Block Kit)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
