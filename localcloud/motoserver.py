"""moto's server, with each DynamoDB request handled alone, as DynamoDB orders writes to an item.

moto's DynamoDB backend is not thread-safe: two requests at once can be given the same stream
sequence number, or stream times out of sequence order. Global-table replication reads those
streams to decide which change is the latest, so an out-of-order pair could replicate an older
counter over a newer one. One lock around DynamoDB and DynamoDB Streams requests keeps every
table's stream in the order its writes happened; other services are served concurrently.

Run as ``python -m localcloud.motoserver --port N`` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
