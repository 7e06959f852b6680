"""The benchmark's endpoints: the download host, and the two S3 sinks the copies write to.

- ``SourceServer``: a local HTTP host sending a fixed block over and over, with its ``Content-Length``;
- ``DiscardingS3``: S3 answered inside the copy's process, just before botocore would send each call;
- ``WireS3`` / ``wire_server``: S3's wire protocol over HTTP on loopback (``tests.bench.s3_wire``, a
  process of its own).

Both sinks check every body against the checksum sent with it and keep no bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import subprocess
import sys
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.httpchecksum import apply_request_checksum

from archiver.store.multipart import crc32_combine

MIB = 1024 * 1024
BUCKET = "archiver-bench"
CONTENT_TYPE = "application/octet-stream"
REPOSITORY = Path(__file__).resolve().parents[2]
# An odd block length, so consecutive parts of the download differ and a misordered part is caught.
BLOCK = random.Random(20261122).randbytes(1_000_003)
_SINK_READ_SIZE = 1 * MIB


# --- the download ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A download of ``size`` bytes: a fixed block repeated, generated as it is read."""

    size: int

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[memoryview]:
        """The bytes from ``start``, ``length`` of them (to the end by default), a block at a time."""
        end = self.size if length is None else min(self.size, start + length)
        view = memoryview(BLOCK)
        offset = start
        while offset < end:
            within = offset % len(BLOCK)
            chunk = view[within : within + min(len(BLOCK) - within, end - offset)]
            yield chunk
            offset += len(chunk)

    def sha256(self, start: int = 0, length: int | None = None) -> bytes:
        digest = hashlib.sha256()
        for chunk in self.chunks(start, length):
            digest.update(chunk)
        return digest.digest()


class SourceServer(ThreadingHTTPServer):
    """Serves ``GET /{size}`` (any query string) on 127.0.0.1: that many bytes of ``Source``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SourceHandler)

    def url(self, size: int, *, query: str = "") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{size}" + (f"?{query}" if query else "")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up mid-body leaves a broken pipe: the client reports its own failure.
        pass


class _SourceHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        size = self.path.split("?", 1)[0].lstrip("/")
        if not size.isdigit():
            self.send_error(404)
            return
        source = Source(int(size))
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(source.size))
        self.end_headers()
        for chunk in source.chunks():
            self.wfile.write(chunk)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving() -> Iterator[SourceServer]:
    """A ``SourceServer`` running on a thread of its own while the block runs."""
    server = SourceServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- the S3 sink ----------------------------------------------------------------------------------


@dataclass
class ReceivedObject:
    """What the sink kept of an object: each part's size and SHA-256, in the object's order."""

    parts: list[tuple[int, bytes]]
    tags: list[dict[str, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(size for size, _ in self.parts)

    def holds(self, source: Source) -> bool:
        """Whether the object is exactly ``source``'s bytes (each part's SHA-256 against its range)."""
        offset = 0
        for size, digest in self.parts:
            if source.sha256(offset, size) != digest:
                return False
            offset += size
        return offset == source.size


class DiscardingS3:
    """An S3 sink: a real boto3 client whose calls are answered in process, bodies hashed and dropped.

    It answers the calls ``archive_download``, ``PutObject`` with ``IfNoneMatch`` and boto3's
    ``upload_fileobj`` make, with S3's semantics where the copies depend on them: a body whose
    SHA-256 or CRC32 differs from the checksum sent is refused (``BadDigest``), and so is a
    ``FULL_OBJECT`` completion whose CRC32 is not its parts', ``IfNoneMatch="*"`` on an existing key
    is refused (``PreconditionFailed``), a completion lists uploaded parts in order.
    Any other call fails loudly rather than being answered wrongly.
    """

    def __init__(self) -> None:
        # The endpoint is never contacted: every call is answered before botocore would send it.
        self.client = boto3.session.Session().client(
            "s3",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        self.client.meta.events.register("before-parameter-build.s3", self._keep_params)
        self.client.meta.events.register_last("before-call.s3", self._answer)
        self.objects: dict[str, ReceivedObject] = {}
        self.bytes_received = 0
        self._uploads: dict[str, tuple[str, dict[int, _Part]]] = {}
        self._lock = threading.Lock()
        self._operations: dict[str, Callable[[dict[str, Any], dict[str, Any]], tuple[int, dict[str, Any]]]] = {
            "PutObject": self._put_object,
            "CreateMultipartUpload": self._create_multipart_upload,
            "UploadPart": self._upload_part,
            "CompleteMultipartUpload": self._complete_multipart_upload,
            "AbortMultipartUpload": self._abort_multipart_upload,
            "ListMultipartUploads": self._list_multipart_uploads,
            "PutObjectTagging": self._put_object_tagging,
        }

    @property
    def uploads_in_progress(self) -> int:
        return len(self._uploads)

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # The call's own parameters, for _answer (botocore hands both events the same context).
        context["bench_params"] = params

    def _answer(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        operation = self._operations.get(model.name)
        if operation is None:
            raise NotImplementedError(f"The benchmark's S3 sink does not answer {model.name}")
        # What botocore does next before sending: compute checksums the caller asked for but did not give.
        apply_request_checksum(params)
        status, parsed = operation(context["bench_params"], params)
        parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = status
        return AWSResponse(None, status, {}, None), parsed

    def _receive(self, request: dict[str, Any]) -> _Part | None:
        """Read a body, hashing and dropping it; None if it does not match the checksum sent with it."""
        body = request["body"]
        digest = hashlib.sha256()
        crc = 0
        if isinstance(body, bytes | bytearray):
            digest.update(body)
            crc = zlib.crc32(body)
            size = len(body)
        else:
            size = 0
            while chunk := body.read(_SINK_READ_SIZE):
                digest.update(chunk)
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
        with self._lock:
            self.bytes_received += size
        sent = request["headers"].get("x-amz-checksum-sha256")
        if sent is not None and base64.b64decode(sent) != digest.digest():
            return None
        sent_crc = request["headers"].get("x-amz-checksum-crc32")
        if sent_crc is not None and base64.b64decode(sent_crc) != crc.to_bytes(4, "big"):
            return None
        return _Part(size, digest.digest(), crc)

    def _put_object(self, call: dict[str, Any], request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if call.get("IfNoneMatch") == "*" and call["Key"] in self.objects:
            return _error(412, "PreconditionFailed")
        part = self._receive(request)
        if part is None:
            return _error(400, "BadDigest")
        with self._lock:
            self.objects[call["Key"]] = ReceivedObject([(part.size, part.sha256)])
        return 200, {"ETag": f'"{part.sha256.hex()[:32]}"', "ChecksumSHA256": b64(part.sha256)}

    def _create_multipart_upload(self, call: dict[str, Any], _: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._uploads[upload_id] = (call["Key"], {})
        return 200, {"Bucket": call["Bucket"], "Key": call["Key"], "UploadId": upload_id}

    def _upload_part(self, call: dict[str, Any], request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload = self._uploads.get(call["UploadId"])
        if upload is None:
            return _error(404, "NoSuchUpload")
        part = self._receive(request)
        if part is None:
            return _error(400, "BadDigest")
        with self._lock:
            upload[1][call["PartNumber"]] = part
        return 200, {"ETag": f'"{part.sha256.hex()[:32]}"'}

    def _complete_multipart_upload(self, call: dict[str, Any], _: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload = self._uploads.get(call["UploadId"])
        if upload is None:
            return _error(404, "NoSuchUpload")
        key, parts = upload
        numbers = [part["PartNumber"] for part in call["MultipartUpload"]["Parts"]]
        if numbers != sorted(set(numbers)) or not set(numbers) <= parts.keys():
            return _error(400, "InvalidPart")
        if call.get("IfNoneMatch") == "*" and key in self.objects:
            return _error(412, "PreconditionFailed")  # the upload stays, as in S3, for the caller to abort
        if call.get("ChecksumType") == "FULL_OBJECT" and "ChecksumCRC32" in call:
            crc = 0
            for number in numbers:
                crc = crc32_combine(crc, parts[number].crc32, parts[number].size)
            if base64.b64decode(call["ChecksumCRC32"]) != crc.to_bytes(4, "big"):
                return _error(400, "BadDigest")
        with self._lock:
            self.objects[key] = ReceivedObject([(parts[number].size, parts[number].sha256) for number in numbers])
            del self._uploads[call["UploadId"]]
        return 200, {"Bucket": call["Bucket"], "Key": key, "ETag": f'"{uuid.uuid4().hex}-{len(numbers)}"'}

    def _abort_multipart_upload(self, call: dict[str, Any], _: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._uploads.pop(call["UploadId"], None)
        return 204, {}

    def _list_multipart_uploads(self, call: dict[str, Any], _: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        prefix = call.get("Prefix", "")
        with self._lock:
            listed = [{"Key": key, "UploadId": upload_id} for upload_id, (key, _) in self._uploads.items()]
        return 200, {
            "Bucket": call["Bucket"],
            "Uploads": [upload for upload in listed if upload["Key"].startswith(prefix)],
        }

    def _put_object_tagging(self, call: dict[str, Any], _: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        received = self.objects.get(call["Key"])
        if received is None:
            return _error(404, "NoSuchKey")
        received.tags = list(call["Tagging"]["TagSet"])
        return 200, {}


@dataclass(frozen=True)
class _Part:
    size: int
    sha256: bytes
    crc32: int


def _error(status: int, code: str) -> tuple[int, dict[str, Any]]:
    return status, {"Error": {"Code": code, "Message": f"{code} (the benchmark's S3 sink)"}}


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


# --- the S3 server over the wire ------------------------------------------------------------------


def wire_client_config() -> Config:
    """The copy steps' client settings (archiver.core.clients), path-style, and SigV4 without a payload hash.

    On HTTP botocore would SHA-256 every body to sign it; on HTTPS with a checksum header (what
    Lambda uses) it does not, so neither does the benchmark.
    """
    return Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        s3={"addressing_style": "path", "payload_signing_enabled": False},
    )


class WireS3:
    """A client of the benchmark's S3 server (``tests.bench.s3_wire``), and what it received."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client = boto3.session.Session().client(
            "s3",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=wire_client_config(),
        )

    def received(self, key: str) -> tuple[int, int] | None:
        """The size and CRC32 of the object the server holds at ``key``, if any."""
        answer = urllib3.PoolManager().request("GET", f"{self.endpoint}/_bench/{key}", retries=False)
        if answer.status != 200:
            return None
        found = json.loads(answer.data)
        return found["size"], found["crc32"]


@contextmanager
def wire_server() -> Iterator[str]:
    """The benchmark's S3 server, in a process of its own; yields its endpoint."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.s3_wire"], cwd=REPOSITORY, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"The benchmark's S3 server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[-1])}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@cache
def source_crc32(size: int) -> int:
    crc = 0
    for chunk in Source(size).chunks():
        crc = zlib.crc32(chunk, crc)
    return crc
