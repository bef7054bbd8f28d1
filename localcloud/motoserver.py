"""moto's server, with two fixes to its DynamoDB so the local cloud behaves like DynamoDB.

- One DynamoDB request at a time. moto's backend is not thread-safe: two requests at once can
  be given the same stream sequence number, or stream times out of sequence order. Global-table
  replication reads those streams to decide which change is the latest, so an out-of-order pair
  could replicate an older counter over a newer one. One lock around DynamoDB and DynamoDB
  Streams requests keeps every table's stream in the order its writes happened; other services
  are served concurrently.
- Transactions that cost what they touch. moto backs up every table a transaction names with
  ``copy.deepcopy`` (items and all stream records) before it starts, so each transaction, and
  every request queued behind it, got slower as the table grew: clicks went from 31 ms to
  130 ms over 600 clicks. Here a transaction saves only the items it writes and the stream's
  length, and puts them back if it fails.
- AWS FIS experiments whose state the local FIS (``localcloud.fis``) sets as it runs them: moto
  would move an experiment on at each GetExperiment. ``POST /_localcloud/fis/experiments`` with
  ``{"region", "id", "status"}`` sets it (``ExperimentStates``).
- IAM as AWS authorizes it (``localcloud.iam.authorization``): inert until the local cloud
  turns enforcement on (``localcloud.iam.principals.enforce``).
- One stream record per item a write changes. moto's update of an absent item (in a transaction
  or alone) streams two INSERTs (the empty item it creates, then the update); DynamoDB streams one change
  per item (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html). A
  replica reading both would count the creation of every counter twice.

Run as ``python -m localcloud.motoserver --port N`` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import threading
import types
from collections.abc import Callable, Iterable
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.fis.models import fis_backends
from moto.moto_api import state_manager
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from localcloud.iam import authorization

SERIALIZED_TARGETS = ("DynamoDB_", "DynamoDBStreams_")


class SerializedDynamoDB:
    """WSGI middleware: DynamoDB requests one at a time, everything else as it comes."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(SERIALIZED_TARGETS):
            return self.app(environ, start_response)
        with self.lock:
            # Consume the response inside the lock: moto does its work while it is produced.
            return list(self.app(environ, start_response))


class ExperimentStates:
    """WSGI middleware: the local FIS sets its experiments' states; everything else goes to moto."""

    PATH = "/_localcloud/fis/experiments"

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        # An experiment stays where it is until the local FIS moves it.
        state_manager.set_transition(
            model_name="fis::experiment", transition={"progression": "manual", "times": 2**62}
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        change = json.loads(environ["wsgi.input"].read(length) or b"{}")
        found = [
            backend.experiments[change["id"]]
            for regions in fis_backends.values()
            for region, backend in regions.items()
            if region == change["region"] and change["id"] in backend.experiments
        ]
        if not found:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "no such experiment"}']
        found[0].status = change["status"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"status": found[0].status}).encode()]


def _not_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for moto's DynamoDB module, except that a Table is not copied."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _slot(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return DynamoType(key[table.hash_key_attr]), range_key


def _restore(table: Table, key: dict[str, Any], saved: Any) -> None:
    hash_key, range_key = _slot(table, key)
    if range_key is None:
        if saved is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = saved
        return
    bucket = table.items[hash_key]
    if saved is None:
        bucket.pop(range_key, None)
    else:
        bucket[range_key] = saved
    if not bucket:
        del table.items[hash_key]


def _one_record_per_item(shard: Any, start: int) -> None:
    """Folds the stream records one write added from `start` on into one per item: the first
    record's old image and sequence number with the last one's new image."""
    kept: dict[str, Any] = {}
    for stream_record in shard.items[start:]:
        change = stream_record.record
        item = json.dumps(change["dynamodb"]["Keys"], sort_keys=True)
        first = kept.setdefault(item, stream_record).record
        if first is change:
            continue
        folded = first["dynamodb"]
        folded.pop("NewImage", None)
        if "NewImage" in change["dynamodb"]:
            folded["NewImage"] = change["dynamodb"]["NewImage"]
        first["eventName"] = change["eventName"] if "OldImage" in folded else "INSERT"
    records = list(kept.values())
    for index, stream_record in enumerate(records, start=start):
        stream_record.record["dynamodb"]["SequenceNumber"] = str(shard.starting_sequence_number + index)
    shard.items[start:] = records


def transactions_save_only_what_they_touch() -> None:
    backend_class = dynamodb_models.DynamoDBBackend
    original = backend_class.transact_write_items
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=_not_tables)  # type: ignore[assignment]

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        streams = {}
        for entry in transact_items:
            operation = next(iter(entry.values()))
            table = self.tables.get(operation.get("TableName"))
            if table is None:
                continue
            attributes = operation.get("Key") or operation.get("Item") or {}
            key = {name: attributes[name] for name in table.table_key_attrs if name in attributes}
            if len(key) != len(table.table_key_attrs):
                continue  # moto rejects the operation before it writes anything
            current = self.get_item(table.name, key)
            saved.append((table, key, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams[id(table)] = (table.stream_shard, len(table.stream_shard.items))
        try:
            original(self, transact_items)
        except Exception:
            for table, key, item in reversed(saved):
                _restore(table, key, item)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        for shard, length in streams.values():
            _one_record_per_item(shard, length)

    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]


def updates_stream_one_record() -> None:
    """An UpdateItem that creates its item streams one INSERT, as in DynamoDB (see above)."""
    backend_class = dynamodb_models.DynamoDBBackend
    original = backend_class.update_item

    @functools.wraps(original)
    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        shard = self.get_table(table_name).stream_shard
        length = len(shard.items) if shard is not None else 0
        result = original(self, table_name, *args, **kwargs)
        if shard is not None:
            _one_record_per_item(shard, length)
        return result

    backend_class.update_item = update_item  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    transactions_save_only_what_they_touch()
    updates_stream_one_record()
    authorization.install()
    app = ExperimentStates(SerializedDynamoDB(DomainDispatcherApplication(create_backend_app)))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
