"""Count a page view: roll the chaos dice, read the user's total, put one event on the bus.

The bus is the commit point: everything that can fail runs before it, so a failed request has
changed nothing and the client may retry anywhere. A client-chosen ``clickId`` becomes the
event id, and the writer stores each event id once, so a retried click does not count twice
(across regions, once the first region's guard item has replicated). The total is the sum of
the user's per-region counter items (see ``shared.model``) plus this view, which the writer
stores asynchronously.

Environment:
- TABLE_NAME: the app's table (counter items are read).
- BUS_NAME, EVENT_SOURCE: where the PageViewed event goes and its source.
- AWS_REGION: named in the event.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from shared import aws, model, snapstart
from shared.http import ApiError

logger = Logger(child=True)

DETAIL_TYPE = "PageViewed"

# Chaos, not cryptography; one generator per container that tests can replace or seed, re-seeded
# after each SnapStart restore so environments of one snapshot do not fail the same requests.
dice = snapstart.reseed_after_restore(random.Random())  # noqa: S311


class InjectedFailure(RuntimeError):
    """The chaos switch failed this request on purpose, so the demo can show retries."""


@dataclass(frozen=True)
class PageView:
    event_id: str
    user_id: str
    username: str
    region: str
    at: str

    def detail(self) -> dict[str, str]:
        return {
            "eventId": self.event_id,
            "userId": self.user_id,
            "username": self.username,
            "region": self.region,
            "at": self.at,
        }


def event_id_from(body: dict[str, Any]) -> str:
    """The client's ``clickId`` (a UUID, in canonical lower case), or a new id when there is none."""
    if "clickId" not in body:
        return str(uuid.uuid4())
    value = body["clickId"]
    if isinstance(value, str):
        try:
            canonical = str(uuid.UUID(value))
        except ValueError:
            canonical = ""
        if canonical and canonical == value.lower():
            return canonical
    raise ApiError(400, "'clickId' must be a UUID string such as 3f2b8c1e-0d6a-4c59-9a57-1b2b3c4d5e6f")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Clicks:
    dynamodb: Any
    events: Any
    table_name: str
    bus_name: str
    source: str
    region: str
    chance: Callable[[], float]
    clock: Callable[[], datetime] = _now

    @classmethod
    def from_environment(cls) -> Clicks:
        return cls(
            dynamodb=aws.client("dynamodb"),
            events=aws.client("events"),
            table_name=os.environ["TABLE_NAME"],
            bus_name=os.environ["BUS_NAME"],
            source=os.environ["EVENT_SOURCE"],
            region=aws.region(),
            chance=dice.random,
        )

    def inject_failure(self, error_rate: float) -> None:
        """Raise InjectedFailure as often as this region's chaos state asks."""
        if error_rate > 0 and self.chance() < error_rate:
            raise InjectedFailure(f"errorRate {error_rate:g} in {self.region}")

    def views(self, user_id: str) -> int:
        """The views stored so far: the sum of the user's counter items, one per region."""
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="#pk = :user AND begins_with(#sk, :views)",
            ExpressionAttributeNames={"#pk": model.PARTITION_KEY, "#sk": model.SORT_KEY, "#views": "views"},
            ExpressionAttributeValues={
                ":user": {"S": model.user_key(user_id)},
                ":views": {"S": model.VIEWS_PREFIX},
            },
            ProjectionExpression="#views",
            ConsistentRead=True,
        )
        return sum(int(item.get("views", {}).get("N", "0")) for page in pages for item in page["Items"])

    def page_view(self, event_id: str, user_id: str, username: str) -> PageView:
        return PageView(
            event_id=event_id,
            user_id=user_id,
            username=username,
            region=self.region,
            at=self.clock().isoformat(timespec="milliseconds"),
        )

    def publish(self, view: PageView) -> None:
        """Put the PageViewed event on the bus, or ApiError (retry: true) when it is not accepted."""
        try:
            response = self.events.put_events(
                Entries=[
                    {
                        "EventBusName": self.bus_name,
                        "Source": self.source,
                        "DetailType": DETAIL_TYPE,
                        "Detail": json.dumps(view.detail()),
                    }
                ]
            )
        except (ClientError, BotoCoreError) as error:
            logger.warning(
                "event bus unavailable", extra={"eventId": view.event_id, "errorType": type(error).__name__}
            )
            raise ApiError(
                503, "the event bus is unavailable, so the view was not counted; please retry", retry=True
            ) from error
        if response.get("FailedEntryCount", 0):
            code = (response.get("Entries") or [{}])[0].get("ErrorCode", "unknown error")
            logger.warning(
                "event bus rejected the page view", extra={"eventId": view.event_id, "errorCode": code}
            )
            raise ApiError(
                502,
                f"the event bus rejected the view ({code}), so it was not counted; please retry",
                retry=True,
            )
        logger.info("page view published", extra={"eventId": view.event_id})
