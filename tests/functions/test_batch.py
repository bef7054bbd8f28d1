"""shared.batch held to Powertools' BatchProcessor(EventType.SQS) with process_partial_response:
the same events and record handlers give the same response, or the same exception."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from conftest import load_event
from shared.batch import process_sqs_batch

RECORDS = load_event("sqs_dead_letters.json")["Records"]
THREE = [*RECORDS, {**copy.deepcopy(RECORDS[0]), "messageId": "7d1a4c7e-2f55-4f0e-9a3b-5b0f0c9e6a10"}]


def fails_on(*message_ids: str) -> Callable[[Mapping[str, Any]], str]:
    """A record handler for both: ours hands the record's mapping, Powertools an SQSRecord over it."""

    def handle(record: Mapping[str, Any]) -> str:
        assert isinstance(record, dict | SQSRecord)
        if record["messageId"] in message_ids:
            raise RuntimeError(f"cannot handle {record['messageId']}")
        return record["body"]

    return handle


def both(event: Any, handler: Callable[[Mapping[str, Any]], Any]) -> tuple[Any, Any]:
    """(ours, Powertools'): each the response, or the exception's type and message."""

    def answer(process: Callable[[], Any]) -> Any:
        try:
            return process()
        except Exception as error:  # noqa: BLE001 - compared below
            return type(error), str(error).splitlines()[0]

    ours = answer(lambda: process_sqs_batch(copy.deepcopy(event), handler))
    processor = BatchProcessor(event_type=EventType.SQS)
    theirs = answer(lambda: process_partial_response(copy.deepcopy(event), handler, processor))
    return ours, theirs


@pytest.mark.parametrize(
    "failing",
    [(), (THREE[0]["messageId"],), (THREE[0]["messageId"], THREE[2]["messageId"])],
    ids=["none fail", "one fails", "two of three fail"],
)
def test_partial_failures_are_reported_as_powertools_reports_them(failing):
    ours, theirs = both({"Records": THREE}, fails_on(*failing))
    assert ours == theirs
    assert ours == {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failing]}


def test_a_batch_whose_every_record_fails_raises_as_powertools_raises():
    ours, theirs = both({"Records": RECORDS}, fails_on(*(record["messageId"] for record in RECORDS)))
    assert ours == theirs
    assert ours[0].__name__ == "BatchProcessingError"


@pytest.mark.parametrize("event", [{"Records": []}, {}, {"Records": {"not": "a list"}}], ids=repr)
def test_an_event_without_records_is_refused_as_powertools_refuses_it(event):
    ours, theirs = both(event, fails_on())
    assert ours == theirs
    assert ours[0].__name__ == "UnexpectedBatchTypeError"
