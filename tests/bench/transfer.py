"""Benchmark the archiver's streaming copy against what a first implementation would write.

    python -m tests.bench.transfer                  # downloads of 8, 64 and 256 MiB
    python -m tests.bench.transfer --sizes 16,1024  # any sizes, in MiB
    python -m tests.bench.transfer --json           # last line: one JSON object for scripts

Every candidate copies the same download into the same S3 sink, in the same run:

- ``archiver``: ``archiver.transfer.archive_download`` with the deployed transfer settings
  (``TRANSFER_PART_SIZE_MIB`` and ``TRANSFER_MAX_PARTS_IN_FLIGHT`` in the environment override them,
  as they would in the function's configuration);
- ``read-all`` (the baseline): urllib3 reads the whole body into memory, SHA-256 over it, one
  ``PutObject`` with that checksum;
- ``upload_fileobj``: boto3's managed upload reading the response as a stream (default
  ``TransferConfig``, S3 checksums SHA-256), what many would reach for.

The download host is a local HTTP server sending a fixed block over and over (never the whole
body in memory), with its ``Content-Length``. The sink is a real boto3 S3 client whose calls are
answered in process: botocore validates and serializes every call as it would for S3, then each
body is read, hashed and dropped, its SHA-256 checked against the one sent, and every object is
checked against the source's bytes after each copy. (moto would keep every object in memory and
swamp the measurement.) Nothing leaves the machine.

For each size and candidate: peak Python memory (tracemalloc, in a run of its own) and the best
of several timed runs without tracemalloc; ratios are against ``read-all`` at the same size.
Exits 1 if the archiver's peak exceeds the bound its design sets (see ``archiver_bound``).
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import itertools
import json
import os
import random
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import boto3
import urllib3
from botocore.awsrequest import AWSResponse
from botocore.httpchecksum import apply_request_checksum

from archiver.links import DownloadLinkPolicy
from archiver.settings import Settings, get_settings
from archiver.transfer import archive_download

MIB = 1024 * 1024
BUCKET = "archiver-bench"
CONTENT_TYPE = "application/octet-stream"
DEFAULT_SIZES_MIB = (8, 64, 256)
# An odd block length, so consecutive parts of the download differ and a misordered part is caught.
_BLOCK = random.Random(20261122).randbytes(1_000_003)
_SINK_READ_SIZE = 1 * MIB
# The archiver reads the download 1 MiB at a time (archiver.transfer): besides the parts it holds
# one read of look-ahead, and one more read is being copied through http.client and urllib3.
_ARCHIVER_READS = 2 * MIB
# What one archiver copy holds besides parts and reads (urllib3, botocore, the part threads):
# measured with this benchmark at about 2.2 MiB for 5 to 16 MiB parts and 1 to 4 in flight.
_ARCHIVER_CONSTANT = 4 * MIB


# --- the download ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A download of ``size`` bytes: a fixed block repeated, generated as it is read."""

    size: int

    def chunks(self, start: int = 0, length: int | None = None) -> Iterator[memoryview]:
        """The bytes from ``start``, ``length`` of them (to the end by default), a block at a time."""
        end = self.size if length is None else min(self.size, start + length)
        view = memoryview(_BLOCK)
        offset = start
        while offset < end:
            within = offset % len(_BLOCK)
            chunk = view[within : within + min(len(_BLOCK) - within, end - offset)]
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
    SHA-256 differs from the checksum sent is refused (``BadDigest``), ``IfNoneMatch="*"`` on an
    existing key is refused (``PreconditionFailed``), a completion lists uploaded parts in order.
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
        self._uploads: dict[str, tuple[str, dict[int, tuple[int, bytes]]]] = {}
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

    def _receive(self, request: dict[str, Any]) -> tuple[int, bytes] | None:
        """Read a body, hashing and dropping it; None if it does not match the SHA-256 sent with it."""
        body = request["body"]
        digest = hashlib.sha256()
        if isinstance(body, bytes | bytearray):
            digest.update(body)
            size = len(body)
        else:
            size = 0
            while chunk := body.read(_SINK_READ_SIZE):
                digest.update(chunk)
                size += len(chunk)
        with self._lock:
            self.bytes_received += size
        sent = request["headers"].get("x-amz-checksum-sha256")
        if sent is not None and base64.b64decode(sent) != digest.digest():
            return None
        return size, digest.digest()

    def _put_object(self, call: dict[str, Any], request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if call.get("IfNoneMatch") == "*" and call["Key"] in self.objects:
            return _error(412, "PreconditionFailed")
        part = self._receive(request)
        if part is None:
            return _error(400, "BadDigest")
        with self._lock:
            self.objects[call["Key"]] = ReceivedObject([part])
        return 200, {"ETag": f'"{part[1].hex()[:32]}"', "ChecksumSHA256": _b64(part[1])}

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
        return 200, {"ETag": f'"{part[1].hex()[:32]}"', "ChecksumSHA256": _b64(part[1])}

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
        with self._lock:
            self.objects[key] = ReceivedObject([parts[number] for number in numbers])
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


def _error(status: int, code: str) -> tuple[int, dict[str, Any]]:
    return status, {"Error": {"Code": code, "Message": f"{code} (the benchmark's S3 sink)"}}


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


# --- the candidates -------------------------------------------------------------------------------

Copy = Callable[[str, DiscardingS3, str, Settings], None]
"""Copies the download at a URL to a key of the sink, with the transfer settings."""

LOCAL_POLICY = DownloadLinkPolicy.from_setting("http://127.0.0.1")


def archiver_copy(url: str, sink: DiscardingS3, key: str, settings: Settings) -> None:
    """The archiver's copy, exactly as a copy step calls it."""
    archive_download(
        fetch_link=lambda: url,
        s3=sink.client,
        bucket=BUCKET,
        key=key,
        content_type=CONTENT_TYPE,
        policy=LOCAL_POLICY,
        part_size=settings.part_size_bytes,
        max_parts_in_flight=settings.max_parts_in_flight,
        max_link_refreshes=settings.max_link_refreshes,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )


def read_all_copy(url: str, sink: DiscardingS3, key: str, settings: Settings) -> None:
    """What a first implementation writes: the whole body in memory, its SHA-256, one PutObject."""
    response = urllib3.PoolManager().request("GET", url, retries=False, timeout=settings.read_timeout_seconds)
    if response.status != 200:
        raise RuntimeError(f"The download answered HTTP {response.status}")
    body = response.data
    sink.client.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        ContentType=CONTENT_TYPE,
        ChecksumSHA256=_b64(hashlib.sha256(body).digest()),
        IfNoneMatch="*",
    )


def upload_fileobj_copy(url: str, sink: DiscardingS3, key: str, settings: Settings) -> None:
    """What many reach for: boto3's managed upload of the response stream, default TransferConfig."""
    response = urllib3.PoolManager().request(
        "GET", url, retries=False, timeout=settings.read_timeout_seconds, preload_content=False
    )
    try:
        if response.status != 200:
            raise RuntimeError(f"The download answered HTTP {response.status}")
        sink.client.upload_fileobj(
            response, BUCKET, key, ExtraArgs={"ContentType": CONTENT_TYPE, "ChecksumAlgorithm": "SHA256"}
        )
    finally:
        response.release_conn()


BASELINE = "read-all"
CANDIDATES: dict[str, Copy] = {
    "archiver": archiver_copy,
    BASELINE: read_all_copy,
    "upload_fileobj": upload_fileobj_copy,
}


# --- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    candidate: str
    size: int
    peak_bytes: int
    """Peak of Python allocations during one copy (tracemalloc)."""
    seconds: float
    """The best of the timed copies."""

    @property
    def mb_per_s(self) -> float:
        return self.size / 1e6 / self.seconds


class Bench:
    """Runs copies against one download host and one sink, checking every object the sink received."""

    def __init__(self, server: SourceServer, sink: DiscardingS3, settings: Settings) -> None:
        self.server = server
        self.sink = sink
        self.settings = settings
        self._copies = itertools.count(1)

    def copy(self, candidate: str, size: int) -> float:
        """Copy ``size`` bytes with ``candidate`` once; return its seconds, after checking what arrived."""
        key = f"bench/{candidate}/{size}/{next(self._copies)}"
        gc.collect()
        started = time.perf_counter()
        CANDIDATES[candidate](self.server.url(size), self.sink, key, self.settings)
        seconds = time.perf_counter() - started
        received = self.sink.objects.pop(key, None)
        if received is None or not received.holds(Source(size)):
            raise AssertionError(f"{candidate} did not deliver the {size}-byte download intact to {key}")
        return seconds

    def measure(self, candidate: str, size: int, *, repeats: int) -> Measurement:
        tracemalloc.start()
        try:
            self.copy(candidate, size)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        best = min(self.copy(candidate, size) for _ in range(repeats))
        return Measurement(candidate, size, peak, best)


def transfer_settings() -> Settings:
    """The copy steps' transfer settings: the deployed defaults unless ``TRANSFER_*`` says otherwise."""
    get_settings.cache_clear()
    try:
        # What the stack always sets has no default; the copies here use none of it (nor name the bucket to S3).
        deployed = {
            "ARCHIVE_BUCKET": BUCKET,
            "DOWNLOAD_ALLOWLIST": "http://127.0.0.1",
            "EXPORT_DEADLINE_SECONDS": "7200",
        }
        with mock.patch.dict(os.environ, deployed):
            return get_settings()
    finally:
        get_settings.cache_clear()


def archiver_bound(settings: Settings) -> int:
    """The most memory one archiver copy should hold, whatever the download's size.

    The parts in flight, the next part being read while they upload, and, for a moment while that
    part is joined from its reads, a second copy of it; the reads under way; a small constant.
    The README states the bound as about part size x (parts in flight + 2), with this benchmark as its source.
    """
    parts = settings.max_parts_in_flight + 2
    return parts * settings.part_size_bytes + _ARCHIVER_READS + _ARCHIVER_CONSTANT


def run(sizes_mib: list[int], *, repeats: int, settings: Settings) -> list[Measurement]:
    with serving() as server:
        bench = Bench(server, DiscardingS3(), settings)
        return [
            bench.measure(candidate, size_mib * MIB, repeats=repeats)
            for size_mib in sizes_mib
            for candidate in CANDIDATES
        ]


# --- reporting ------------------------------------------------------------------------------------


def report(measurements: list[Measurement], settings: Settings) -> dict[str, Any]:
    baselines = {m.size: m for m in measurements if m.candidate == BASELINE}
    rows = [
        {
            "sizeMiB": m.size // MIB,
            "candidate": m.candidate,
            "peakMiB": round(m.peak_bytes / MIB, 1),
            "MBps": round(m.mb_per_s, 1),
            "memoryRatio": round(m.peak_bytes / baselines[m.size].peak_bytes, 3),
            "speedRatio": round(m.mb_per_s / baselines[m.size].mb_per_s, 2),
        }
        for m in measurements
    ]
    bound = archiver_bound(settings)
    archiver_peak = max(m.peak_bytes for m in measurements if m.candidate == "archiver")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "settings": {
            "partSizeMiB": settings.part_size_bytes // MIB,
            "maxPartsInFlight": settings.max_parts_in_flight,
        },
        "rows": rows,
        "archiverBoundMiB": round(bound / MIB, 1),
        "archiverPeakMiB": round(archiver_peak / MIB, 1),
        "archiverWithinBound": archiver_peak <= bound,
        "copyStepMemoryMB": _copy_step_memory_mb(),
    }


def _copy_step_memory_mb() -> int:
    # Imported here: the CDK app's modules start a jsii runtime, which the copies need not wait for.
    from infra.archive.workflow import STEP_SPECS

    return STEP_SPECS["archive_bundle"].memory_mb


def _print_table(summary: dict[str, Any], out: Any) -> None:
    header = ("size MiB", "candidate", "peak MiB", "MB/s", "memory ratio", "speed ratio")
    lines = [
        (
            str(r["sizeMiB"]),
            r["candidate"],
            f"{r['peakMiB']:.1f}",
            f"{r['MBps']:.0f}",
            f"{r['memoryRatio']:.3f}",
            f"{r['speedRatio']:.2f}",
        )
        for r in summary["rows"]
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    for line in (header, *lines):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.transfer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES_MIB),
        help="download sizes in MiB, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed copies per size and candidate, best kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats: expected a whole number of at least 1")
    out = sys.stdout
    settings = transfer_settings()
    print(
        f"Copying {', '.join(f'{size} MiB' for size in args.sizes)} from a local HTTP server into an in-process S3 "
        f"sink; archiver: {settings.part_size_bytes // MIB} MiB parts, {settings.max_parts_in_flight} in flight; "
        f"ratios against {BASELINE}; peak: tracemalloc, one copy; MB/s: best of {args.repeats}",
        file=out,
        flush=True,
    )
    summary = report(run(args.sizes, repeats=args.repeats, settings=settings), settings)
    _print_table(summary, out)
    verdict = "within it" if summary["archiverWithinBound"] else "OVER IT"
    print(
        f"archiver bound: {summary['archiverBoundMiB']} MiB ({settings.part_size_bytes // MIB} MiB x "
        f"({settings.max_parts_in_flight} in flight + 2) + {_ARCHIVER_READS // MIB} MiB of reads + "
        f"{_ARCHIVER_CONSTANT // MIB} MiB), whatever the size; its highest peak: {summary['archiverPeakMiB']} MiB, "
        f"{verdict}; the copy steps' Lambda memory: {summary['copyStepMemoryMB']} MB",
        file=out,
    )
    if args.json:
        print(json.dumps(summary), file=out)
    return 0 if summary["archiverWithinBound"] else 1


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes in MiB such as 8,64,256, got {value!r}")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
