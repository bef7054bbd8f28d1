"""The local cloud's HTTP servers: werkzeug's WSGI server on a fixed pool of request threads, with
HTTP/1.1 keep-alive.

werkzeug's threaded server starts a thread for every connection, without limit. Here at most
``workers`` connections are served at once and the rest wait in the listen backlog, as behind
a busy load balancer. A client that stops sending in the middle of a request (a body shorter
than its Content-Length, say), or leaves its connection idle, gives its thread back after
``IDLE_SECONDS``.

Keep-alive: werkzeug answers every request with ``Connection: close`` because, after the app,
it drains whatever the socket holds, which on a kept connection would be the next request. Here
a request whose body is framed by a valid Content-Length (or that has none) reads its body
through a stream that ends where the body ends, and what the app left unread of it (up to
``DRAIN_BYTES``) is read before the response's headers go out, so the connection serves the next
request from its first byte. Anything else (a chunked or unreadable Content-Length, a large
unread body, an HTTP/1.0 client, a client that asked to close, most of the threads in use)
closes after the response, as before. A kept connection holds its thread while idle, so no
more than three quarters of the threads are left to them; ``server_close`` closes them all, and
a stop leaves no thread behind.

Why werkzeug and not waitress, which keeps connections alive without holding a thread each:
waitress answers a class of malformed requests itself, with a plain-text 400, before any app
sees them (a NUL in a header, a Content-Length that is not a number), and has other header
limits than Python's ``http.server``. The end-to-end tests pin what the local gateway answers to
those requests (tests/e2e/test_bad_input.py: a 401 from the authorizer, JSON 400s, the 431s), so
the server in front of the apps stays the one they were written against.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

WORKERS = 64
IDLE_SECONDS = 5.0
# How much of a body its app left unread a kept connection reads; past it the connection closes.
DRAIN_BYTES = 64 * 1024
WRITE_BUFFER_BYTES = 64 * 1024
# How long a stop waits for the requests in flight to end.
STOP_SECONDS = 5.0


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's request handler with the keep-alive described above."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS  # socketserver's per-connection socket timeout: stalled or idle
    # A buffered writer: werkzeug writes a response's headers and its body apart and flushes after
    # the body, so a response leaves in one send instead of two (http.server flushes after each
    # request, and socketserver when the connection ends, error pages included).
    wbufsize = WRITE_BUFFER_BYTES
    server: PooledServer
    _body: _Body | None = None  # while a request that may keep its connection is served
    _served = False

    def handle_one_request(self) -> None:
        if self._served and not self._next_request_arrives():
            self.close_connection = True
            return
        self._served = True
        super().handle_one_request()

    def _next_request_arrives(self) -> bool:
        """On a kept connection, whether the client sends another request within IDLE_SECONDS
        (an idle connection closes quietly; one that stalls mid-request is logged, as before)."""
        try:
            return bool(self.rfile.peek(1))  # type: ignore[attr-defined]
        except (TimeoutError, ConnectionError):
            return False

    def make_environ(self) -> Any:
        # werkzeug writes "100 Continue" right before this; the client waits for it to send the body.
        self.wfile.flush()
        return super().make_environ()

    def run_wsgi(self) -> None:
        self._body = self._framed_body()
        if self._body is None:
            self.close_connection = True
            super().run_wsgi()
            return
        whole, self.rfile = self.rfile, self._body  # type: ignore[assignment]
        try:
            super().run_wsgi()
        finally:
            self.rfile = whole
        if not self._body.is_exhausted:
            self.close_connection = True  # the rest of the body would be read as the next request
        self._body = None

    def send_header(self, keyword: str, value: str) -> None:
        # werkzeug's own, right before the headers end: decided here, before the client reads them.
        if keyword.lower() == "connection" and value.lower() == "close" and self._body is not None:
            if self._body.limit - self._body.tell() <= DRAIN_BYTES:
                self._body.exhaust()  # what the app left unread, so the next request starts clean
            if self._body.is_exhausted:
                return  # the connection is kept for the next request
        super().send_header(keyword, value)

    def _framed_body(self) -> _Body | None:
        """The request's body as a stream that ends with it, when the connection can be kept."""
        if self.close_connection or self.request_version != "HTTP/1.1" or "Transfer-Encoding" in self.headers:
            return None
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit() or not self.server.keeps_alive():
            return None
        return _Body(self.rfile, int(length))  # type: ignore[arg-type]


class _Body(LimitedStream):
    """A request's body, ending at its Content-Length or where its client stopped sending."""

    def on_disconnect(self, error: Exception | None = None) -> None:
        # Reads as the end, quietly: the app's own stream (werkzeug's, from CONTENT_LENGTH) still
        # reports the disconnect to the app, and this connection is then not kept.
        return


class PooledServer(BaseWSGIServer):
    multithread = True

    def __init__(
        self, port: int, app: Any, workers: int = WORKERS, handler: type[KeepAliveHandler] = KeepAliveHandler
    ) -> None:
        # Set before the socket is bound: a port in use makes werkzeug close the server (this
        # server_close) and exit with its "Port N is in use by another program" message.
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"http-{port}")
        self._changed = threading.Condition()
        self._open: set[socket.socket] = set()
        super().__init__("127.0.0.1", port, app, handler=handler)

    def keeps_alive(self) -> bool:
        """Whether a connection may stay open after its response: not once most threads are taken,
        so that idle kept connections never starve new ones."""
        with self._changed:
            return len(self._open) <= self.workers * 3 // 4

    def process_request(self, request: Any, client_address: Any) -> None:
        # A body larger than the write buffer still leaves apart from its headers: without this,
        # on a kept connection it would wait for the client's delayed ACK of them (about 40 ms).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._changed:
            self._open.add(request)
        self.pool.submit(self._serve, request, client_address)

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own handling: log it, close the connection
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._changed:
                self._open.discard(request)
                self._changed.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver's traceback on stderr, except for a client that went away mid-answer
        (a blackout closes every connection): a broken pipe or a reset is no fault of the server."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        """Close the listening socket and every connection; wait a little for requests in flight."""
        super().server_close()
        with self._changed:
            for connection in self._open:
                with contextlib.suppress(OSError):  # already closed by its client
                    connection.shutdown(socket.SHUT_RDWR)  # a thread waiting for a request wakes
            deadline = time.monotonic() + STOP_SECONDS
            while self._open and self._changed.wait(max(0.0, deadline - time.monotonic())):
                pass
        self.pool.shutdown(wait=not self._open)
