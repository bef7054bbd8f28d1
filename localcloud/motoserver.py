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
- moto's folder listed once. To route each request, moto's dispatcher asks whether the request's
  host names one of its service modules, and lists its own package folder to find out (a
  listdir and some 150 stats), twice a request, under the lock every request takes. The folder
  does not change while the server runs, so the list is taken once.
- Its services loaded while the deployers start. moto loads a service's backend, its Flask app
  and botocore's model of it at the service's first request: 3.4 s in all for the 17 services the
  local cloud uses, on this 2-core machine under load, apigateway alone 1.3 s, every one of them
  on the first deployment's path. A thread loads them as soon as the server listens, while the
  deployers import the program.
- EventBridge's input paths parsed once. To hand an event to each target, moto reads the
  event's fields through JSONPath expressions (nine of them for a target without an input
  transformer), and ``jsonpath_ng``'s ``parse`` builds a new parser, its grammar tables and
  all, for every expression it is given: 77% of moto's time in a PutEvents whose event matched
  a rule, and the largest wait in a click's first invocation (7 to 18 ms). The expressions come
  from the rules and never change, so each is parsed once (``event_paths_parsed_once``).
- DynamoDB Streams shard iterators that expire. moto keeps every iterator it hands out, and the
  local cloud's table stream readers ask for a fresh one at every poll (``localcloud.streams``):
  some 80 MB an hour for two idle regions, for as long as the local cloud runs. DynamoDB Streams
  expires an iterator 15 minutes after handing it out, and so does this one; GetRecords with an
  iterator it no longer holds answers ExpiredIteratorException (``iterators_expire``).
- Blackouts (``localcloud.blackout``): a request for a blacked-out region gets no answer at all,
  as from an AWS endpoint in a regional outage (``Blackout``).
- One stream record per item a write changes. moto's update of an absent item (in a transaction
  or alone) streams two INSERTs (the empty item it creates, then the update); DynamoDB streams one change
  per item (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html). A
  replica reading both would count the creation of every counter twice.
- Cognito multi-Region replication, which moto lacks (``localcloud.cognito``): the replica
  operations, and tokens that carry the multi-Region issuer once the pool is set to it.

Run as ``python -m localcloud.motoserver --port N [--blackout-fd FD]`` (127.0.0.1 only). With the
local cloud's link (``--blackout-fd``) it ignores Ctrl-C, which a terminal sends to every process
of the group: the local cloud stops it once its data plane is done with it, and it exits when
the link closes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import functools
import importlib
import io
import json
import os
import re
import signal
import socket
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import moto.backends as moto_backends
import moto.dynamodb.models as dynamodb_models
import moto.dynamodbstreams.models as streams_models
from moto.core.exceptions import JsonRESTError
from moto.core.utils import get_service_model
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.fis.models import fis_backends
from moto.moto_api import state_manager
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

from localcloud import cognito, httpserver
from localcloud.iam import authorization

SERIALIZED_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
# Request threads per port: long polls (SQS, the stream pollers) and kept connections hold one each.
MOTO_WORKERS = 256
# The region of a SigV4-signed request: its credential scope, in the header or a presigned URL.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[a-z0-9-]+)/")
PRESIGNED_SCOPE = re.compile(
    r"X-Amz-Credential=[^&%/]+(?:/|%2F)\d{8}(?:/|%2F)(?P<region>[a-z0-9-]+)(?:/|%2F)"
)
# A user pool id (or an issuer's last part) starts with its region: us-east-1_AbCdEf123.
POOL_ID = re.compile(r"^/?(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+")
COGNITO_TARGET = "AWSCognitoIdentityProviderService."


class Blackout:
    """WSGI middleware: a request for a blacked-out region is dropped, its connection closed with
    no response, as a client of an AWS endpoint in a regional outage sees it (botocore:
    ConnectionClosedError, which it retries, then raises). moto is one server for every region,
    so the connection cannot be refused at connect time; closing it unanswered is the nearest
    thing, and every AWS call to that region fails as a network error, never with an HTTP status.

    The region is the request's SigV4 credential scope. No principal is exempt, the local cloud's
    admin included: an outage spares no caller, and what the local cloud does as AWS itself in
    that region (replication, event delivery, alarms) stops on its own side. Requests that are
    not signed are Cognito's public operations (InitiateAuth and the like) and a pool's JWKS:
    they carry no region, only the endpoint they were sent to does (cognito-idp.<region>.
    amazonaws.com). So moto also listens on one port per region (``endpoints``), each region's
    functions and authorizers call it there, and such a request is for the endpoint's region
    when the pool it names (by id, app client or access token) is there (the primary or its
    replica), else for the region the pool is in."""

    def __init__(self, app: Callable[..., Iterable[bytes]], endpoints: dict[int, str] | None = None) -> None:
        self.app = app
        self.out: set[str] = set()
        self.endpoints = endpoints or {}  # port -> the region whose endpoint it stands for

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.out and region_of(environ, self._endpoint(environ), self.out) in self.out:
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                with contextlib.suppress(OSError):  # the client is gone already
                    connection.shutdown(socket.SHUT_RDWR)
            # werkzeug takes a ConnectionError as a dropped connection: nothing is written.
            raise ConnectionAbortedError("region blacked out")
        return self.app(environ, start_response)

    def _endpoint(self, environ: dict[str, Any]) -> str | None:
        try:
            return self.endpoints.get(int(environ.get("SERVER_PORT") or 0))
        except ValueError:
            return None

    def listen(self, fd: int) -> None:
        """Apply the parent's commands (``localcloud.blackout.MotoLink``) until it closes."""
        link = socket.socket(fileno=fd)
        with link, link.makefile("rwb") as lines:
            for line in lines:
                command, _, region = line.decode().strip().partition(" ")
                if command == "blackout":
                    self.out.add(region)
                elif command == "restore":
                    self.out.discard(region)
                else:
                    lines.write(b"unknown command\n")
                    lines.flush()
                    continue
                lines.write(b"ok\n")
                lines.flush()


def region_of(environ: dict[str, Any], endpoint: str | None = None, out: Iterable[str] = ()) -> str | None:
    """The AWS region a request to moto is for; None when it names none. `endpoint`: the region
    whose endpoint the request was sent to, if it was sent to one (see Blackout); `out`: the
    regions blacked out."""
    found = CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or PRESIGNED_SCOPE.search(
        environ.get("QUERY_STRING", "")
    )
    if found:
        return found["region"]
    path = environ.get("PATH_INFO", "")
    if path.endswith("/.well-known/jwks.json") and POOL_ID.match(path):
        pool_id = path.strip("/").split("/")[0]
        regions = _pool_regions(pool_id)
        if endpoint not in regions and _multi_region_issuer(pool_id):
            # "Updated issuers host the same JWKS content in multiple regions" (IssuerConfigurationType,
            # Cognito API reference; which ones, it does not say): a region holding the pool answers.
            regions = [region for region in regions if region not in out] or regions
        return _placed(regions, endpoint)
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith(COGNITO_TARGET):
        return _placed(_cognito_regions(_read_body(environ)), endpoint)
    return None


def _placed(regions: list[str], endpoint: str | None) -> str | None:
    """The endpoint's region when the pool is there, else the first region it is in."""
    return endpoint if endpoint in regions else next(iter(regions), None)


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request's body, read and put back for the app."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _cognito_regions(raw: bytes) -> list[str]:
    """The regions of an unsigned Cognito request's user pool (its primary's and its replicas'),
    found from the pool id, the access token or the app client id it carries."""
    body = authorization.json_body(raw) or {}
    if isinstance(pool_id := body.get("UserPoolId"), str) and POOL_ID.match(pool_id):
        return _pool_regions(pool_id)
    if isinstance(token := body.get("AccessToken"), str) and token.count(".") == 2:
        try:
            payload = token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            issuer = str(claims.get("iss", "")).rsplit("/", 1)[-1]
        except ValueError:
            issuer = ""
        if POOL_ID.match(issuer):
            return _pool_regions(issuer)
    if isinstance(client_id := body.get("ClientId"), str):
        return _regions_where(lambda pools: any(client_id in pool.clients for pool in pools.values()))
    return []


def _multi_region_issuer(pool_id: str) -> bool:
    """Whether the pool (in its own region) issues tokens with the multi-Region issuer."""
    from moto.cognitoidp.models import cognitoidp_backends

    match = POOL_ID.match(pool_id)
    return match is not None and any(
        cognito.issuer(regions[match["region"]].user_pools[pool_id]) is not None
        for regions in cognitoidp_backends.values()
        if pool_id in regions[match["region"]].user_pools
    )


def _pool_regions(pool_id: str) -> list[str]:
    """Where the pool is: its own region (its id's prefix) first, then its replicas' regions."""
    match = POOL_ID.match(pool_id)
    home = [match["region"]] if match else []
    return home + [region for region in _regions_where(lambda pools: pool_id in pools) if region not in home]


def _regions_where(holds: Callable[[dict[str, Any]], bool]) -> list[str]:
    """The regions whose Cognito backend's user pools satisfy `holds`, in moto's order."""
    from moto.cognitoidp.models import cognitoidp_backends

    return [
        str(region)
        for regions in cognitoidp_backends.values()
        for region, backend in regions.items()
        if holds(backend.user_pools)
    ]


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


# "A shard iterator expires 15 minutes after it is returned to the requester."
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html
ITERATOR_SECONDS = 15 * 60


class ExpiringIterators(dict[str, Any]):
    """moto's shard iterators by ARN, each dropped ITERATOR_SECONDS after it was handed out (every
    DynamoDB Streams request is served under one lock: ``SerializedDynamoDB``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._expiries: deque[tuple[float, str]] = deque()

    def __setitem__(self, arn: str, iterator: Any) -> None:
        self.expire()
        super().__setitem__(arn, iterator)
        self._expiries.append((self._clock() + ITERATOR_SECONDS, arn))

    def expire(self) -> None:
        now = self._clock()
        while self._expiries and self._expiries[0][0] <= now:
            self.pop(self._expiries.popleft()[1], None)


def iterators_expire() -> None:
    """Shard iterators dropped 15 minutes after they are handed out, as DynamoDB Streams expires
    them; GetRecords with one that is gone answers as DynamoDB Streams does (moto: a KeyError, 500)."""
    backend_class = streams_models.DynamoDBStreamsBackend
    original_init, original_get_records = backend_class.__init__, backend_class.get_records

    def __init__(self: Any, region_name: str, account_id: str) -> None:
        original_init(self, region_name, account_id)
        self.shard_iterators = ExpiringIterators()

    def get_records(self: Any, iterator_arn: str, limit: int) -> Any:
        self.shard_iterators.expire()
        if iterator_arn not in self.shard_iterators:
            # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
            raise JsonRESTError(
                "ExpiredIteratorException", "The provided iterator exceeds the maximum age allowed."
            )
        return original_get_records(self, iterator_arn, limit)

    backend_class.__init__ = __init__  # type: ignore[method-assign]
    backend_class.get_records = get_records  # type: ignore[method-assign]


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


def modules_listed_once() -> None:
    """moto's service modules listed once, at start, not at every request (see above)."""
    listed = tuple(moto_backends.list_of_moto_modules())
    moto_backends.list_of_moto_modules = lambda: listed


def event_paths_parsed_once() -> None:
    """Each JSONPath expression moto's EventBridge meets parsed once, not once per event (see
    above). moto imports ``parse`` from ``jsonpath_ng.ext`` at each call, so it finds this one.
    Run by ``load_services``, off the start's path: the import alone is some 30 ms."""
    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)


# The services the local cloud calls, by botocore's names, in the order the first deployment
# meets them.
SERVICES = (
    "iam", "sts", "kms", "logs", "s3", "sqs", "sns", "dynamodb", "dynamodbstreams", "kinesis",
    "firehose", "ssm", "events", "cognito-idp", "lambda", "apigatewayv2", "cloudwatch",
)  # fmt: skip
# moto's app where it is named otherwise (apigateway's also serves apigatewayv2).
APP_OF = {"cognito-idp": "cognitoidp", "lambda": "awslambda", "apigatewayv2": "apigateway"}


def load_services(dispatcher: DomainDispatcherApplication) -> None:
    """What moto would load at each service's first request, loaded now (see above), and its
    EventBridge's paths parsed once (no event is put before the first deployment is done)."""
    event_paths_parsed_once()
    for model in SERVICES:
        app = APP_OF.get(model, model)
        instance = create_backend_app(app)  # type: ignore[arg-type]
        with dispatcher.lock:
            dispatcher.app_instances.setdefault(app, instance)
        get_service_model(model)
    importlib.import_module("moto.apigatewayv2.responses")


class MotoHandler(httpserver.KeepAliveHandler, MotoRequestHandler):
    """moto's request handler (its header spellings) with the local servers' keep-alive, and no
    line logged per request. With moto's own server every AWS call was a new connection and a new
    thread (werkzeug answers ``Connection: close``), and its log line was formatted for nobody:
    measured, 2.0 to 2.7 ms of moto's CPU per SSM GetParameter instead of 3.0 to 3.3."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return


def _until_unlinked(blackout: Blackout, fd: int) -> None:
    """The local cloud's commands until it closes their link, then the end of this process."""
    blackout.listen(fd)
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--endpoint", action="append", default=[], metavar="REGION=PORT", help="a region's endpoint port"
    )
    parser.add_argument("--blackout-fd", type=int, help="the local cloud's blackout channel")
    options = parser.parse_args()
    port = options.port
    transactions_save_only_what_they_touch()
    updates_stream_one_record()
    iterators_expire()
    modules_listed_once()
    cognito.install()
    authorization.install()
    dispatcher = DomainDispatcherApplication(create_backend_app)
    threading.Thread(target=load_services, args=(dispatcher,), name="load-services", daemon=True).start()
    endpoints = {
        int(port): region for region, _, port in (value.partition("=") for value in options.endpoint)
    }
    blackout = Blackout(ExperimentStates(SerializedDynamoDB(dispatcher)), endpoints)
    if options.blackout_fd is not None:
        # Started by the local cloud, which stops moto itself (SIGTERM) once its data plane has
        # written its last metrics and logs here. A terminal's Ctrl-C reaches every process of
        # its group, moto included, and ended it first: every last write failed with a traceback.
        # It ends with the local cloud instead, when their link closes.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_until_unlinked, args=(blackout, options.blackout_fd), daemon=True).start()
    app = blackout
    for endpoint in endpoints:  # listening before the main port is, which the local cloud waits for
        server = httpserver.PooledServer(endpoint, app, handler=MotoHandler, workers=MOTO_WORKERS)
        threading.Thread(target=server.serve_forever, name=f"endpoint-{endpoint}", daemon=True).start()
    httpserver.PooledServer(port, app, handler=MotoHandler, workers=MOTO_WORKERS).serve_forever()


if __name__ == "__main__":
    main()
