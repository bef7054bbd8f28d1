"""SQS partial batch responses: what the dead letter handler used from Powertools' batch
processor (``BatchProcessor(EventType.SQS)`` with ``process_partial_response``), without its
import: ``aws_lambda_powertools.utilities.batch`` loads asyncio and its async processors, a
tenth of that function's cold start. ``tests/functions/test_batch.py`` runs the same events and
handlers through both and compares what they answer and raise.

Each record is handled on its own, as the mapping Lambda delivered (the processor hands an
``SQSRecord``, a read-only view of the same keys; importing it loads every Powertools event data
class, 30 ms of a cold start). One whose handler raises is reported by its message id in
``batchItemFailures`` (Lambda deletes the others,
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), and when every
record fails the whole batch raises Powertools' ``BatchProcessingError``, as the processor does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Record = Mapping[str, Any]


def process_sqs_batch(event: dict[str, Any], record_handler: Callable[[Record], Any]) -> dict[str, Any]:
    """``{"batchItemFailures": [{"itemIdentifier": <message id>}, ...]}`` for ``event``'s records."""
    records = event.get("Records", [])
    if not records or not isinstance(records, list):
        from aws_lambda_powertools.utilities.batch.exceptions import UnexpectedBatchTypeError

        raise UnexpectedBatchTypeError(
            "Unexpected batch event type. Possible values are: SQS, KinesisDataStreams, DynamoDBStreams",
        )
    failures: list[dict[str, str]] = []
    errors: list[tuple[type[BaseException] | None, BaseException | None, Any]] = []
    for record in records:
        try:
            record_handler(record)
        except Exception as error:  # noqa: BLE001 - any failure leaves the record to SQS
            failures.append({"itemIdentifier": record["messageId"]})
            errors.append((type(error), error, error.__traceback__))
    if records and len(errors) == len(records):
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        raise BatchProcessingError(
            msg=f"All records failed processing. {len(errors)} individual errors logged separately below.",
            child_exceptions=errors,
        )
    return {"batchItemFailures": failures}
