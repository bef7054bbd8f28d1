"""The local cloud's HTTP servers: werkzeug's WSGI server on a fixed pool of request threads.

werkzeug's threaded server starts a thread for every connection, without limit. Here at most
``workers`` connections are served at once and the rest wait in the listen backlog, as behind
a busy load balancer. werkzeug closes each connection after its response; a client that stops
sending in the middle of a request (a body shorter than its Content-Length, say) gives its
thread back after ``IDLE_SECONDS`` instead of holding it for good.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

WORKERS = 64
IDLE_SECONDS = 5.0


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # as werkzeug's threaded server speaks
    timeout = IDLE_SECONDS  # socketserver's per-connection socket timeout


class PooledServer(BaseWSGIServer):
    multithread = True

    def __init__(self, port: int, app: Any, workers: int = WORKERS) -> None:
        super().__init__("127.0.0.1", port, app, handler=_Handler)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"http-{port}")

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._serve, request, client_address)

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own handling: log it, close the connection
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)
