"""The dead letter handler: records each dead event and alerts Slack (SQS event source)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
