"""An S3 server for the transfer benchmark: S3's wire protocol over HTTP on loopback, bodies verified and dropped.

    python -m tests.bench.s3_wire     # prints "listening on <port>", then serves until killed

It answers, path-style, the calls the benchmark's copies make (``PutObject``,
``CreateMultipartUpload``, ``UploadPart``, ``CompleteMultipartUpload``, ``AbortMultipartUpload``,
``ListMultipartUploads``, ``PutObjectTagging``) as S3 does where the copies depend on it:

- every body is read as it arrives and checked against the checksum sent with it
  (``x-amz-checksum-sha256`` or ``-crc32``); a mismatch is ``400 BadDigest``;
- a ``FULL_OBJECT`` completion's whole-object CRC32 is checked against the parts it names;
- ``If-None-Match: *`` on an existing key is ``412 PreconditionFailed``;
- ``Expect: 100-continue`` is answered (boto3's managed upload asks for it);
- responses go out with ``TCP_NODELAY``, as S3's do not wait on a delayed ACK.

Bodies are never kept: of each object only its size and CRC32 remain, which ``GET /_bench/{key}``
returns as JSON so the benchmark can check every copy against its source. Unlike moto's server,
which keeps every object (and builds a multipart object in memory at completion), it costs the
copies the same whatever the size, so what is measured is the copy.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import sys
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree

from archiver.store.multipart import crc32_combine

_READ_SIZE = 1024 * 1024
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_DIGESTS: dict[str, Callable[[], Any]] = {"sha256": hashlib.sha256}


@dataclass
class _Received:
    size: int
    crc32: int


@dataclass
class _Upload:
    key: str
    checksum_type: str | None
    parts: dict[int, _Received] = field(default_factory=dict)


class S3WireServer(ThreadingHTTPServer):
    daemon_threads = True
    # Parts arrive on several connections at once.
    request_queue_size = 64

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.objects: dict[str, _Received] = {}
        self.uploads: dict[str, _Upload] = {}
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A copy that failed mid-body leaves a broken pipe: the copy reports its own failure.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: S3WireServer
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- routing ----------------------------------------------------------------------------------

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        path = unquote(parts.path).lstrip("/")
        key = path.split("/", 1)[1] if "/" in path else ""
        return key, parse_qs(parts.query, keep_blank_values=True)

    def do_PUT(self) -> None:
        key, query = self._route()
        if "partNumber" in query:
            self._upload_part(query["uploadId"][0], int(query["partNumber"][0]))
        elif "tagging" in query:
            self._drain()
            self._reply(200)
        else:
            self._put_object(key)

    def do_POST(self) -> None:
        key, query = self._route()
        if "uploads" in query:
            self._drain()
            upload_id = uuid.uuid4().hex
            with self.server.lock:
                self.server.uploads[upload_id] = _Upload(key, self.headers.get("x-amz-checksum-type"))
            self._reply(200, _xml("InitiateMultipartUploadResult", Bucket="bench", Key=key, UploadId=upload_id))
        else:
            self._complete(key, query["uploadId"][0])

    def do_DELETE(self) -> None:
        _, query = self._route()
        self._drain()
        with self.server.lock:
            self.server.uploads.pop(query.get("uploadId", [""])[0], None)
        self._reply(204)

    def do_GET(self) -> None:
        _, query = self._route()
        self._drain()
        if self.path.startswith("/_bench/"):
            received = self.server.objects.get(unquote(urlsplit(self.path).path)[len("/_bench/") :])
            if received is None:
                self._error(404, "NoSuchKey")
                return
            self._reply(200, json.dumps({"size": received.size, "crc32": received.crc32}).encode())
        elif "uploads" in query:
            prefix = query.get("prefix", [""])[0]
            with self.server.lock:
                listed = [(upload_id, u.key) for upload_id, u in self.server.uploads.items()]
            uploads = "".join(
                f"<Upload><Key>{_escape(k)}</Key><UploadId>{upload_id}</UploadId></Upload>"
                for upload_id, k in listed
                if k.startswith(prefix)
            )
            body = (
                f'<ListMultipartUploadsResult xmlns="{_XMLNS}"><Bucket>bench</Bucket>'
                f"<IsTruncated>false</IsTruncated>{uploads}</ListMultipartUploadsResult>"
            )
            self._reply(200, body.encode())
        else:
            self._error(501, "NotImplemented")

    def do_HEAD(self) -> None:
        self._drain()
        self._reply(404)

    # --- the calls --------------------------------------------------------------------------------

    def _put_object(self, key: str) -> None:
        if self.headers.get("If-None-Match") == "*" and key in self.server.objects:
            self._drain()
            self._error(412, "PreconditionFailed")
            return
        received = self._receive()
        if received is None:
            self._error(400, "BadDigest")
            return
        with self.server.lock:
            self.server.objects[key] = received
        self._reply(200, headers={"ETag": f'"{uuid.uuid4().hex}"'})

    def _upload_part(self, upload_id: str, number: int) -> None:
        upload = self.server.uploads.get(upload_id)
        received = self._receive()
        if upload is None:
            self._error(404, "NoSuchUpload")
            return
        if received is None:
            self._error(400, "BadDigest")
            return
        with self.server.lock:
            upload.parts[number] = received
        self._reply(200, headers={"ETag": f'"{number}-{received.crc32:08x}"'})

    def _complete(self, key: str, upload_id: str) -> None:
        document = ElementTree.fromstring(self._read_small())
        numbers = [int(element.text or "0") for element in document.iter() if element.tag.endswith("PartNumber")]
        upload = self.server.uploads.get(upload_id)
        if upload is None:
            self._error(404, "NoSuchUpload")
            return
        if not numbers or numbers != sorted(set(numbers)) or not set(numbers) <= upload.parts.keys():
            self._error(400, "InvalidPart")
            return
        if self.headers.get("If-None-Match") == "*" and key in self.server.objects:
            self._error(412, "PreconditionFailed")  # the upload stays, as in S3, for the caller to abort
            return
        crc = 0
        for number in numbers:
            crc = crc32_combine(crc, upload.parts[number].crc32, upload.parts[number].size)
        sent = self.headers.get("x-amz-checksum-crc32")
        if upload.checksum_type == "FULL_OBJECT" and sent is not None and _b64_crc32(sent) != crc:
            self._error(400, "BadDigest")
            return
        with self.server.lock:
            self.server.objects[key] = _Received(sum(upload.parts[n].size for n in numbers), crc)
            del self.server.uploads[upload_id]
        self._reply(200, _xml("CompleteMultipartUploadResult", Bucket="bench", Key=key, ETag=f'"{upload_id}"'))

    # --- bodies -----------------------------------------------------------------------------------

    def _receive(self) -> _Received | None:
        """Read the body, checking it against the checksum sent with it; None if they differ."""
        length = int(self.headers.get("Content-Length", "0"))
        algorithm = next((name for name in _DIGESTS if f"x-amz-checksum-{name}" in self.headers), None)
        digest = _DIGESTS[algorithm]() if algorithm else None
        crc = 0
        buffer = bytearray(min(_READ_SIZE, max(length, 1)))
        view = memoryview(buffer)
        remaining = length
        while remaining:
            count = self.rfile.readinto(view[: min(remaining, len(buffer))])
            if not count:
                raise ConnectionError("the body ended early")
            chunk = view[:count]
            crc = zlib.crc32(chunk, crc)
            if digest is not None:
                digest.update(chunk)
            remaining -= count
        if digest is not None and base64.b64decode(self.headers[f"x-amz-checksum-{algorithm}"]) != digest.digest():
            return None
        sent_crc = self.headers.get("x-amz-checksum-crc32")
        if sent_crc is not None and _b64_crc32(sent_crc) != crc:
            return None
        return _Received(length, crc)

    def _read_small(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _drain(self) -> None:
        self._read_small()

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = f"<Error><Code>{code}</Code><Message>{code} (the benchmark's S3 server)</Message></Error>"
        self._reply(status, body.encode())


def _xml(root: str, **fields: str) -> bytes:
    inner = "".join(f"<{name}>{_escape(value)}</{name}>" for name, value in fields.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{_XMLNS}">{inner}</{root}>'.encode()


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _b64_crc32(value: str) -> int:
    return int.from_bytes(base64.b64decode(value), "big")


def main() -> int:
    server = S3WireServer()
    print(f"listening on {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
