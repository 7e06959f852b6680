"""The HTTP host: a threading server on 127.0.0.1 that reads requests, writes responses and leaks nothing on stop."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.local.emulator.clock import VirtualClock, http_date
from tests.local.emulator.wire import Request, Response, json_response

_LOG = logging.getLogger(__name__)

# A stalled download is held open at most this long (real seconds) if nothing releases it; the
# client's read timeout, or the emulator stopping, normally ends it far sooner.
_MAX_STALL_SECONDS = 30.0


class Server(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections, so ``stop()`` leaks nothing.

    Parameters
    ----------
    handle
        Answers one request; an exception it raises is answered 500 ``InternalFailure``.
    clock
        The clock the ``Date`` header follows.
    """

    daemon_threads = True  # a wedged handler must never keep the test process alive

    def __init__(self, handle: Callable[[Request], Response], clock: VirtualClock) -> None:
        self.handle = handle
        self.clock = clock
        self.stalls_released = threading.Event()
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall for seconds offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="emulator-handler",
            daemon=True,
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)

    def stop(self) -> None:
        """Stop serving, release stalled downloads, drop open connections and wait for every handler thread."""
        self.stalls_released.set()  # stalled downloads end now, not when their wait runs out
        self.shutdown()
        self._close_connections()  # keep-alive connections would otherwise idle on until timeout
        self.server_close()

    def _close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.shutdown(socket.SHUT_RDWR)

    def join_handlers(self, timeout: float) -> None:
        with self._open_lock:
            threads = list(self._open.values())
        for thread in threads:
            thread.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    timeout = 30  # idle keep-alive connections end on their own
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK of the headers (~40 ms a response on Linux). TCP_NODELAY sends it at once.
    disable_nagle_algorithm = True
    server: Server

    def version_string(self) -> str:
        return "ServiceEmulator"

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the virtual clock, as a real server's follows real time.
        return http_date(self.server.clock.now() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            response = self.server.handle(self._read_request())
        except Exception:
            _LOG.exception("emulator failure on %s %s", self.command, self.path)
            response = json_response(500, {"message": "Emulator failure"}, str(uuid.uuid4()))
            response.headers["x-amzn-ErrorType"] = "InternalFailure"
        self._write(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def _read_request(self) -> Request:
        parts = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return Request(
            method=self.command,
            path=unquote(parts.path),
            raw_path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _go_silent(self) -> None:
        """Hold the connection open, sending nothing, until the client or the emulator gives up."""
        self.server.stalls_released.wait(_MAX_STALL_SECONDS)
        self.close_connection = True

    def _write(self, response: Response) -> None:
        if response.stall is not None and response.stall.before_headers:
            self._go_silent()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        chunks: Iterator[bytes] = iter([response.body]) if response.stream is None else response.stream
        budget = response.truncate_after
        try:
            for chunk in chunks:
                if budget is not None:
                    chunk, budget = chunk[:budget], budget - len(chunk[:budget])
                if chunk:
                    self._send_chunk(response, chunk)
                if budget == 0:
                    # Announced the full length but end the connection early, as a dropped
                    # transfer would: the client sees fewer bytes than Content-Length.
                    if response.stall is not None:
                        self._go_silent()
                    self.close_connection = True
                    return
        except OSError:
            self.close_connection = True  # the client went away mid-transfer

    def _send_chunk(self, response: Response, chunk: bytes) -> None:
        # Count before writing: a client that has read everything may look at the records
        # before this thread gets to run again.
        if response.on_sent is not None:
            response.on_sent(len(chunk))
        try:
            self.wfile.write(chunk)
        except OSError:
            if response.on_sent is not None:
                response.on_sent(-len(chunk))
            raise
