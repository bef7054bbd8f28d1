"""SNS delivery to Lambda subscribers, locally: the event a subscribed function receives."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


def sns_event(topic_arn: str, subscription_arn: str, subject: str | None, message: str) -> dict[str, Any]:
    """The event SNS gives a Lambda subscriber."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"{time.time_ns()}",
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
                    "SignatureVersion": "1",
                    "MessageAttributes": {},
                },
            }
        ]
    }
