"""The security responder: failed-login alarm to a Slack report (CloudWatch alarm Lambda action)."""

import shared.coldstart  # noqa: F401 - first of all: no garbage collection until the first answer
