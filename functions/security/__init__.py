"""The security responder: failed-login alarm to a Slack report (CloudWatch alarm Lambda action)."""
