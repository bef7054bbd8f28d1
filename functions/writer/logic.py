"""Store a page view exactly once, counted in this region's counter item.

One DynamoDB transaction writes both items: a guard keyed by the event id, put only if absent,
and ``ADD views 1`` on the user's counter for this region. A redelivered event fails the
guard's condition, which cancels the whole transaction, so retries never count twice; and
because each region adds only to its own counter item (summed on read), two regions counting
at once never overwrite each other under the global table's last-writer-wins.

A late delivery (EventBridge retried it, or held it through its region's outage) first looks for
its guard in the table's other replicas: when a region goes dark with a click's event published
and its answer lost, the page resends the click to another region, which stores it; that
region's guard may not have replicated here when the held event arrives, and both regions would
count the click. A replica that does not answer is passed over: counting beats losing the view.
Every replica of a global table has the table's name ("All replicas in a global table share the
same table name", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
V2globaltables_HowItWorks.html). AWS advises against calls across Regions (https://docs.aws.
amazon.com/prescriptive-guidance/latest/dynamodb-global-tables/client-driven-request-routing.html):
only late events make these reads, and a Region that is down holds one for at most the clients'
timeouts (2 s to connect, 5 s to read, 3 attempts: ``shared.aws``).

Environment:
- TABLE_NAME: the app's table.
- OTHER_REPLICA_REGIONS: optional, comma-separated: the regions of the table's other replicas.
- CHAOS_PARAMETER_PREFIX: read by ``shared.chaos`` for ``writerFailureRate``.
- AWS_REGION: names this region's counter item.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from shared import aws, chaos, model

logger = Logger(child=True)

DETAIL_TYPE = "PageViewed"
MAX_ID_LENGTH = 128
GUARD_ITEM = 0  # position of the guard in the transaction, and of its cancellation reason
# A page view reaches the writer well within a second; one this old was retried or held.
LATE_AFTER = timedelta(seconds=2)


class InvalidPageView(ValueError):
    """The event is not a page view this writer can store."""


class InjectedWriterFailure(RuntimeError):
    """The chaos switch failed this invocation on purpose, to exercise retries and the DLQ."""


@dataclass(frozen=True)
class PageView:
    event_id: str
    user_id: str
    username: str
    region: str
    at: str  # ISO-8601 with a time zone, as the click function sent it


def parse_page_view(event: Mapping[str, Any]) -> PageView:
    """The event's detail as a PageView, or InvalidPageView naming the first field that is wrong.

    Messages name fields and rules, never values: the detail is untrusted input.
    """
    detail_type = event.get("detail-type")
    if detail_type != DETAIL_TYPE:
        raise InvalidPageView(f"detail-type must be {DETAIL_TYPE!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidPageView("detail must be a JSON object")
    event_id = _string(detail, "eventId", 36)
    try:
        canonical = str(uuid.UUID(event_id))
    except ValueError:
        canonical = ""
    if canonical != event_id.lower():
        raise InvalidPageView("'eventId' must be a UUID string")
    region = _string(detail, "region", 32)
    if not aws.is_region_name(region):
        raise InvalidPageView("'region' must be an AWS region name")
    at = _string(detail, "at", 40)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidPageView("'at' must be an ISO-8601 time with a time zone")
    return PageView(
        event_id=event_id,
        user_id=_string(detail, "userId", MAX_ID_LENGTH),
        username=_string(detail, "username", MAX_ID_LENGTH),
        region=region,
        at=at,
    )


def _string(detail: dict[str, Any], name: str, max_length: int) -> str:
    value = detail.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidPageView(f"'{name}' must be a non-empty string")
    if len(value) > max_length:
        raise InvalidPageView(f"'{name}' must be at most {max_length} characters")
    return value


def _writer_failure_rate() -> float:
    return chaos.current().writer_failure_rate


def _now() -> datetime:
    return datetime.now(UTC)


def _replica_client(region: str) -> Any:
    return aws.client("dynamodb", region)


def _other_replica_regions() -> tuple[str, ...]:
    raw = os.environ.get("OTHER_REPLICA_REGIONS", "")
    return tuple(region for region in (part.strip() for part in raw.split(",")) if region)


@dataclass
class Writer:
    dynamodb: Any
    table_name: str
    region: str
    metrics: Metrics
    failure_rate: Callable[[], float] = _writer_failure_rate
    chance: Callable[[], float] = random.random  # injectable so tests decide the dice
    clock: Callable[[], datetime] = _now
    other_regions: tuple[str, ...] = ()
    replica: Callable[[str], Any] = _replica_client  # a region's DynamoDB client

    @classmethod
    def from_environment(cls, metrics: Metrics) -> Writer:
        return cls(
            dynamodb=aws.client("dynamodb"),
            table_name=os.environ["TABLE_NAME"],
            region=aws.region(),
            metrics=metrics,
            other_regions=_other_replica_regions(),
        )

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            view = parse_page_view(event)
        except InvalidPageView as error:
            logger.warning("rejected an invalid page view", extra={"reason": str(error)})
            raise
        self.inject_failure(view)
        if self.store(view):
            self.metrics.add_metric(name="PageViewsStored", unit=MetricUnit.Count, value=1)
            logger.info("page view stored", extra={"eventId": view.event_id})
            status = "stored"
        else:
            self.metrics.add_metric(name="DuplicateEvents", unit=MetricUnit.Count, value=1)
            logger.info("duplicate page view ignored: already stored", extra={"eventId": view.event_id})
            status = "duplicate"
        return {"eventId": view.event_id, "status": status, "region": self.region}

    def inject_failure(self, view: PageView) -> None:
        """Fail before writing anything, as often as this region's chaos state asks."""
        rate = self.failure_rate()
        if rate > 0 and self.chance() < rate:
            logger.warning(
                "injected writer failure", extra={"eventId": view.event_id, "writerFailureRate": rate}
            )
            raise InjectedWriterFailure(f"injected writer failure (writerFailureRate {rate})")

    def store(self, view: PageView) -> bool:
        """True when stored now, False when a guard shows it was stored before."""
        if self.is_late(view) and self.stored_elsewhere(view):
            return False
        guard = {
            model.PARTITION_KEY: {"S": model.event_key(view.event_id)},
            model.SORT_KEY: {"S": model.EVENT_SORT_KEY},
            "userId": {"S": view.user_id},
            "region": {"S": view.region},
            "at": {"S": view.at},
            model.TTL_ATTRIBUTE: {"N": str(model.expires_at(self.clock(), model.EVENT_GUARD_TTL))},
        }
        counter = {
            model.PARTITION_KEY: {"S": model.user_key(view.user_id)},
            model.SORT_KEY: {"S": model.views_key(self.region)},
        }
        try:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": guard,
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": model.PARTITION_KEY},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": counter,
                            "UpdateExpression": "ADD #views :one",
                            "ExpressionAttributeNames": {"#views": "views"},
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        except self.dynamodb.exceptions.TransactionCanceledException as error:
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons") or []]
            if reasons and reasons[GUARD_ITEM] == "ConditionalCheckFailed":
                return False
            logger.warning(
                "page view transaction cancelled", extra={"eventId": view.event_id, "reasons": reasons}
            )
            raise
        return True

    def is_late(self, view: PageView) -> bool:
        return self.clock() - datetime.fromisoformat(view.at) > LATE_AFTER

    def stored_elsewhere(self, view: PageView) -> bool:
        """Whether another replica holds the view's guard (a strongly consistent read in each)."""
        key = {
            model.PARTITION_KEY: {"S": model.event_key(view.event_id)},
            model.SORT_KEY: {"S": model.EVENT_SORT_KEY},
        }
        for region in self.other_regions:
            try:
                found = self.replica(region).get_item(
                    TableName=self.table_name,
                    Key=key,
                    ConsistentRead=True,
                    ProjectionExpression="#pk",
                    ExpressionAttributeNames={"#pk": model.PARTITION_KEY},
                )
            except Exception as error:  # noqa: BLE001 - an unreachable replica must not block the count
                logger.warning(
                    "another replica did not answer; counting",
                    extra={
                        "eventId": view.event_id,
                        "replicaRegion": region,
                        "errorType": type(error).__name__,
                    },
                )
                continue
            if "Item" in found:
                logger.info(
                    "late page view already stored in another region",
                    extra={"eventId": view.event_id, "replicaRegion": region},
                )
                return True
        return False
