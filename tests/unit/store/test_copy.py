"""Streaming a download into the archive: bytes, checksums, write-once, expired links, failures.

S3 is moto; the download host is a small threaded HTTP server on 127.0.0.1 that serves given
bytes and can refuse, truncate, stall, redirect or fail.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import socket
import threading
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from urllib3 import BaseHTTPResponse

from archiver.core.errors import (
    ArchiveConflictError,
    ChecksumMismatchError,
    DisallowedLinkError,
    DownloadFailedError,
    LinkExpiredError,
    ServiceBusyError,
)
from archiver.core.links import DownloadLinkPolicy
from archiver.store.copy import archive_bytes, archive_download
from archiver.store.multipart import crc32_combine
from archiver.store.write_once import SameBytesAsArchived, StoredObject

MIB = 1024 * 1024
PART_SIZE = 5 * MIB
BUCKET = "qs-archive-test"
KEY = "runs/run-1/bundles/dashboard.qs"
SIGNATURE_PARAM = "X-Amz-Signature"
LOCAL_POLICY = DownloadLinkPolicy.from_setting("http://127.0.0.1")


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def composite_checksum(data: bytes, part_size: int) -> str:
    """The S3 checksum of a multipart object written by this module before it moved to CRC32."""
    digests = [hashlib.sha256(data[i : i + part_size]).digest() for i in range(0, len(data), part_size)]
    return f"{base64.b64encode(hashlib.sha256(b''.join(digests)).digest()).decode()}-{len(digests)}"


def full_object_crc32(data: bytes) -> str:
    """S3's FULL_OBJECT CRC32 of a multipart object: the CRC32 of its bytes, whatever its parts."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


# --- the download host -------------------------------------------------------------------------


@dataclass
class DownloadScript:
    """What the download host answers; every request's path (query included) is recorded."""

    body: bytes = b""
    refusals: int = 0  # answer 403 (expired link) to this many requests first
    status: int = 200
    truncate_after: int | None = None  # promise the whole body, send this many bytes, hang up
    stall_after: int | None = None  # send this many bytes, then wait for `released`
    released: threading.Event = field(default_factory=threading.Event)
    requests: list[str] = field(default_factory=list)


class _DownloadServer(ThreadingHTTPServer):
    daemon_threads = True
    script: DownloadScript

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, refused size) leaves a broken pipe: expected, not news.
        pass


class _DownloadHandler(BaseHTTPRequestHandler):
    server: _DownloadServer

    def do_GET(self) -> None:
        script = self.server.script
        script.requests.append(self.path)
        if len(script.requests) <= script.refusals:
            self._answer(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        elif script.status in (301, 302, 307):
            self.send_response(script.status)
            self.send_header("Location", "http://127.0.0.2/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif script.status != 200:
            self._answer(script.status, b"<Error><Code>InternalError</Code></Error>")
        else:
            self._send_body(script)

    def _send_body(self, script: DownloadScript) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(script.body)))
        self.end_headers()
        if script.stall_after is not None:
            self.wfile.write(script.body[: script.stall_after])
            self.wfile.flush()
            script.released.wait()
            return
        sent = len(script.body) if script.truncate_after is None else script.truncate_after
        self.wfile.write(script.body[:sent])

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class DownloadHost:
    base_url: str
    script: DownloadScript


class LinkIssuer:
    """Stands in for QuickSight: each call issues a new presigned-looking link."""

    def __init__(self, base_url: str, path: str = "/assetbundle-job-1.qs") -> None:
        self.base_url = base_url
        self.path = path
        self.issued: list[str] = []

    def __call__(self) -> str:
        link = (
            f"{self.base_url}{self.path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300"
            f"&{SIGNATURE_PARAM}=secret{len(self.issued)}"
        )
        self.issued.append(link)
        return link


@pytest.fixture
def download_host() -> Iterator[DownloadHost]:
    server = _DownloadServer(("127.0.0.1", 0), _DownloadHandler)
    server.script = DownloadScript()
    # A short poll interval only makes shutdown prompt; nothing waits on it.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield DownloadHost(f"http://127.0.0.1:{server.server_address[1]}", server.script)
    finally:
        server.script.released.set()
        server.shutdown()
        server.server_close()
        thread.join()


# --- the archive ---------------------------------------------------------------------------------


class SpyS3:
    """The moto S3 client with every call recorded, and hooks to hold or break some calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []
        self.failing_part: int | None = None
        self.failing_tagging = False
        self.before_part: Callable[[int], None] | None = None
        self.in_flight = 0
        self.most_in_flight = 0
        self.parts_done = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def recorded(**kwargs: Any) -> Any:
            with self._lock:
                self.calls.append(name)
            return method(**kwargs)

        return recorded

    def upload_part(self, **kwargs: Any) -> Any:
        with self._lock:
            self.calls.append("upload_part")
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.before_part is not None:
                self.before_part(kwargs["PartNumber"])
            if kwargs["PartNumber"] == self.failing_part:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "UploadPart")
            return self.client.upload_part(**kwargs)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.parts_done += 1

    def put_object_tagging(self, **kwargs: Any) -> Any:
        self.calls.append("put_object_tagging")
        if self.failing_tagging:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObjectTagging")
        return self.client.put_object_tagging(**kwargs)


@pytest.fixture(scope="module")
def boto_session() -> boto3.Session:
    # One session for the module: it caches service models, making each test's client cheap.
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def s3(boto_session: boto3.Session) -> Iterator[SpyS3]:
    with mock_aws():
        client = boto_session.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield SpyS3(client)


def copy(
    s3: SpyS3,
    links: Callable[[], str],
    *,
    key: str = KEY,
    part_size: int = PART_SIZE,
    max_parts_in_flight: int = 2,
    max_link_refreshes: int = 2,
    read_timeout: float = 10.0,
    policy: DownloadLinkPolicy = LOCAL_POLICY,
    http: urllib3.PoolManager | None = None,
    unless_sha256: str | None = None,
) -> StoredObject:
    return archive_download(
        fetch_link=links,
        s3=s3,
        bucket=BUCKET,
        key=key,
        content_type="application/zip",
        policy=policy,
        part_size=part_size,
        max_parts_in_flight=max_parts_in_flight,
        max_link_refreshes=max_link_refreshes,
        connect_timeout=5.0,
        read_timeout=read_timeout,
        http=http,
        unless_sha256=unless_sha256,
    )


def stored_bytes(s3: SpyS3, key: str = KEY) -> bytes:
    return cast(bytes, s3.client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def stored_tags(s3: SpyS3, key: str = KEY) -> dict[str, str]:
    tags = s3.client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tags}


def assert_archive_empty(s3: SpyS3) -> None:
    assert s3.client.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def assert_no_credentials(error: BaseException) -> None:
    # The whole report a log would carry: message, chained causes and frames.
    report = "".join(traceback.format_exception(error))
    assert SIGNATURE_PARAM not in report
    assert "secret" not in report


# --- tests ---------------------------------------------------------------------------------------


def test_small_download_is_stored_with_one_put_and_its_sha256(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a download smaller than a part
    body = payload(300 * 1024)
    download_host.script.body = body

    # When it is archived
    stored = copy(s3, LinkIssuer(download_host.base_url))

    # Then one PUT stored it byte for byte, with its SHA-256 as S3 checksum and as tag
    assert stored_bytes(s3) == body
    assert "create_multipart_upload" not in s3.calls
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.s3_checksum == sha256_b64(body)
    head = s3.client.head_object(Bucket=BUCKET, Key=KEY, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(body)
    assert head["ContentType"] == "application/zip"
    assert stored_tags(s3) == {"sha256": stored.sha256}
    assert (stored.size, stored.already_archived, stored.link_refreshes) == (len(body), False, 0)
    assert stored.version_id is None


def test_large_download_is_a_multipart_upload_stored_byte_identical(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a 12 MiB download and 5 MiB parts
    body = payload(12 * MIB)
    download_host.script.body = body

    # When it is archived
    stored = copy(s3, LinkIssuer(download_host.base_url))

    # Then three parts were uploaded and the object is the download, byte for byte
    assert s3.calls.count("upload_part") == 3
    assert stored_bytes(s3) == body
    assert stored.size == len(body)
    # And the whole-object SHA-256 is recorded as a tag (multipart metadata is fixed too early)
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored_tags(s3) == {"sha256": stored.sha256}
    # And the S3 checksum is the whole object's CRC32, combined from its parts' as S3 computes it
    assert stored.s3_checksum == full_object_crc32(body)
    assert stored.s3_checksum_algorithm == "CRC32"
    head = s3.client.head_object(Bucket=BUCKET, Key=KEY, ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (full_object_crc32(body), "FULL_OBJECT")
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize(
    ("size", "parts"),
    [(0, 0), (1, 0), (PART_SIZE, 0), (PART_SIZE + 1, 2), (2 * PART_SIZE, 2)],
    ids=["empty", "one-byte", "exactly-one-part", "one-part-and-a-byte", "exactly-two-parts"],
)
def test_part_boundaries_store_the_exact_bytes(download_host: DownloadHost, s3: SpyS3, size: int, parts: int) -> None:
    # Given a download whose size sits on a part boundary
    body = payload(size)
    download_host.script.body = body

    # When it is archived
    stored = copy(s3, LinkIssuer(download_host.base_url))

    # Then it is stored whole, with a single PUT when it fits in one part
    assert stored_bytes(s3) == body
    assert s3.calls.count("upload_part") == parts
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.s3_checksum == (full_object_crc32(body) if parts else sha256_b64(body))
    assert stored.s3_checksum_algorithm == ("CRC32" if parts else "SHA256")


def test_versioned_archive_reports_and_tags_the_written_version(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a versioned archive bucket (as Object Lock requires) and a multipart-sized download
    s3.client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    download_host.script.body = payload(6 * MIB)

    # When it is archived
    stored = copy(s3, LinkIssuer(download_host.base_url))

    # Then the written version is reported, and that version carries the SHA-256 tag
    assert stored.version_id is not None
    tags = s3.client.get_object_tagging(Bucket=BUCKET, Key=KEY, VersionId=stored.version_id)["TagSet"]
    assert tags == [{"Key": "sha256", "Value": stored.sha256}]


def test_expired_link_is_replaced_by_a_fresh_one(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a download host that refuses the first link as expired
    body = payload(64 * 1024)
    download_host.script.body = body
    download_host.script.refusals = 1
    links = LinkIssuer(download_host.base_url)

    # When it is archived
    stored = copy(s3, links)

    # Then a fresh link was asked for and used, and the object stored
    assert stored.link_refreshes == 1
    assert len(links.issued) == 2
    assert [path.rsplit("=", 1)[1] for path in download_host.script.requests] == ["secret0", "secret1"]
    assert stored_bytes(s3) == body


@pytest.mark.parametrize("size", [64 * 1024, 12 * MIB], ids=["small", "multipart"])
def test_link_refused_every_time_is_link_expired_and_leaves_nothing(
    download_host: DownloadHost, s3: SpyS3, size: int
) -> None:
    # Given a download host that refuses every link
    download_host.script.body = payload(size)
    download_host.script.refusals = 1_000
    links = LinkIssuer(download_host.base_url)

    # When it is archived with at most 2 refreshes
    with pytest.raises(LinkExpiredError) as failure:
        copy(s3, links, max_link_refreshes=2)

    # Then three links were fetched and tried, nothing is in the archive, and no upload lingers
    assert len(links.issued) == 3
    assert len(download_host.script.requests) == 3
    assert_archive_empty(s3)
    assert_no_credentials(failure.value)


@pytest.mark.parametrize(
    ("size", "sent", "multipart_started"),
    [(64 * 1024, 1000, False), (12 * MIB, 11 * MIB, True)],
    ids=["small", "multipart"],
)
def test_truncated_body_fails_and_leaves_nothing(
    download_host: DownloadHost, s3: SpyS3, size: int, sent: int, multipart_started: bool
) -> None:
    # Given a download host that hangs up before sending the promised bytes
    download_host.script.body = payload(size)
    download_host.script.truncate_after = sent

    # When it is archived
    with pytest.raises(DownloadFailedError) as failure:
        copy(s3, LinkIssuer(download_host.base_url))

    # Then no short object is stored and any multipart upload begun was aborted
    assert ("create_multipart_upload" in s3.calls) is multipart_started
    assert ("abort_multipart_upload" in s3.calls) is multipart_started
    assert_archive_empty(s3)
    assert_no_credentials(failure.value)


@pytest.mark.parametrize("status", [500, 503, 404, 400, 302])
def test_error_status_fails_without_refreshing_the_link(download_host: DownloadHost, s3: SpyS3, status: int) -> None:
    # Given a download host answering an error (or a redirect, which is never followed)
    download_host.script.status = status
    links = LinkIssuer(download_host.base_url)

    # When it is archived
    with pytest.raises(DownloadFailedError, match=f"HTTP {status}") as failure:
        copy(s3, links)

    # Then the failure names the status; one link, one request, nothing stored
    assert len(links.issued) == 1
    assert len(download_host.script.requests) == 1
    assert_archive_empty(s3)
    assert_no_credentials(failure.value)


def test_unreachable_host_is_a_download_failure(s3: SpyS3) -> None:
    # Given a link to a port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    # When it is archived
    with pytest.raises(DownloadFailedError) as failure:
        copy(s3, LinkIssuer(f"http://127.0.0.1:{port}"))

    # Then it fails as a download failure, quoting no credentials
    assert_archive_empty(s3)
    assert_no_credentials(failure.value)


def test_stalled_download_times_out(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a download host that stops sending midway
    download_host.script.body = payload(64 * 1024)
    download_host.script.stall_after = 1024

    # When it is archived with a short read timeout
    with pytest.raises(DownloadFailedError) as failure:
        copy(s3, LinkIssuer(download_host.base_url), read_timeout=0.2)

    # Then it fails as a download failure and nothing is stored
    assert_archive_empty(s3)
    assert_no_credentials(failure.value)


@pytest.mark.parametrize("size", [64 * 1024, 12 * MIB], ids=["small", "multipart"])
def test_second_identical_copy_is_already_archived(download_host: DownloadHost, s3: SpyS3, size: int) -> None:
    # Given an artifact already archived
    body = payload(size)
    download_host.script.body = body
    first = copy(s3, LinkIssuer(download_host.base_url))

    # When the same bytes are archived to the same key again (a re-run)
    again = copy(s3, LinkIssuer(download_host.base_url))

    # Then the copy succeeds as already archived, describing the same object
    assert again.already_archived is True
    assert (again.sha256, again.s3_checksum, again.size) == (first.sha256, first.s3_checksum, first.size)
    assert stored_bytes(s3) == body
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize("size", [64 * 1024, 12 * MIB], ids=["small", "multipart"])
def test_bytes_equal_to_the_last_archived_copy_are_not_stored(
    download_host: DownloadHost, s3: SpyS3, size: int
) -> None:
    # Given a download whose bytes are those of the copy already archived elsewhere (onlyChanged)
    body = payload(size)
    download_host.script.body = body

    # When it is copied unless its SHA-256 is that copy's
    with pytest.raises(SameBytesAsArchived) as caught:
        copy(s3, LinkIssuer(download_host.base_url), unless_sha256=hashlib.sha256(body).hexdigest())

    # Then nothing is stored, not even a multipart upload in progress, and the digest is reported
    assert (caught.value.size, caught.value.sha256) == (size, hashlib.sha256(body).hexdigest())
    assert_archive_empty(s3)
    # And bytes that differ from that copy's by one are stored as ever
    download_host.script.body = body[:-1] + bytes([body[-1] ^ 1])
    stored = copy(s3, LinkIssuer(download_host.base_url), unless_sha256=hashlib.sha256(body).hexdigest())
    assert stored_bytes(s3) == download_host.script.body and stored.already_archived is False


@pytest.mark.parametrize(
    ("first_part_size", "second_part_size"),
    [(16 * MIB, PART_SIZE), (PART_SIZE, 16 * MIB), (PART_SIZE, 6 * MIB)],
    ids=["put-then-multipart", "multipart-then-put", "other-part-count"],
)
def test_same_bytes_split_differently_are_already_archived(
    download_host: DownloadHost, s3: SpyS3, first_part_size: int, second_part_size: int
) -> None:
    # Given an artifact archived with one part size (so one S3 checksum shape)
    download_host.script.body = payload(12 * MIB)
    first = copy(s3, LinkIssuer(download_host.base_url), part_size=first_part_size)

    # When the same bytes are archived after the part size setting changed
    again = copy(s3, LinkIssuer(download_host.base_url), part_size=second_part_size)

    # Then the SHA-256 tag recorded at the first write identifies them as already archived
    assert again.already_archived is True
    assert again.sha256 == first.sha256
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize("size", [64 * 1024, 12 * MIB], ids=["small", "multipart"])
def test_different_bytes_at_the_same_key_conflict_and_the_original_stays(
    download_host: DownloadHost, s3: SpyS3, size: int
) -> None:
    # Given an artifact already archived at a key
    original = payload(size, seed=1)
    download_host.script.body = original
    first = copy(s3, LinkIssuer(download_host.base_url))

    # When different bytes of the same size are archived to the same key
    download_host.script.body = payload(size, seed=2)
    with pytest.raises(ArchiveConflictError, match=f"s3://{BUCKET}/{KEY}") as failure:
        copy(s3, LinkIssuer(download_host.base_url))

    # Then the original is untouched and no upload lingers
    assert stored_bytes(s3) == original
    assert stored_tags(s3) == {"sha256": first.sha256}
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert_no_credentials(failure.value)


def test_debug_logs_never_carry_the_links_credentials(
    download_host: DownloadHost, s3: SpyS3, caplog: pytest.LogCaptureFixture
) -> None:
    # Given everything logged at DEBUG, urllib3 included, and a link that expires once
    download_host.script.body = payload(1024)
    download_host.script.refusals = 1
    caplog.set_level(logging.DEBUG)

    # When it is archived
    copy(s3, LinkIssuer(download_host.base_url))

    # Then the requests were logged, but never a link's query string
    assert "/assetbundle-job-1.qs" in caplog.text
    assert SIGNATURE_PARAM not in caplog.text


def test_disallowed_link_is_never_fetched(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given the deployed policy (https on AWS domains only) and a link to the local host
    download_host.script.body = payload(1024)
    policy = DownloadLinkPolicy.from_setting("https://*.amazonaws.com")

    # When it is archived
    with pytest.raises(DisallowedLinkError) as failure:
        copy(s3, LinkIssuer(download_host.base_url), policy=policy)

    # Then the download host never saw a request, and the error quotes no credentials
    assert download_host.script.requests == []
    assert_archive_empty(s3)
    assert_no_credentials(failure.value)


def test_fresh_link_is_checked_before_it_is_fetched(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a first link that expires and a fresh link pointing at a host not allowed
    download_host.script.refusals = 1
    allowed = LinkIssuer(download_host.base_url)
    elsewhere = LinkIssuer("http://169.254.169.254")
    issuers = iter([allowed, elsewhere])

    # When it is archived
    with pytest.raises(DisallowedLinkError):
        copy(s3, lambda: next(issuers)())

    # Then only the first link was fetched
    assert len(download_host.script.requests) == 1
    assert_archive_empty(s3)


def test_failed_part_upload_aborts_the_multipart_upload(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given an archive that fails to take the second part
    download_host.script.body = payload(12 * MIB)
    s3.failing_part = 2

    # When it is archived
    with pytest.raises(ServiceBusyError, match=r"S3 UploadPart for s3://.* failed \(InternalError: injected\)"):
        copy(s3, LinkIssuer(download_host.base_url))

    # Then the upload was aborted (no object, no incomplete upload) and the step is retried as busy
    assert "abort_multipart_upload" in s3.calls
    assert "complete_multipart_upload" not in s3.calls
    assert_archive_empty(s3)


def test_rerun_adds_a_sha256_tag_that_failed_to_be_written(download_host: DownloadHost, s3: SpyS3) -> None:
    # Given a multipart copy whose object was completed but could not be tagged
    body = payload(12 * MIB)
    download_host.script.body = body
    s3.failing_tagging = True
    with pytest.raises(ServiceBusyError, match="injected"):
        copy(s3, LinkIssuer(download_host.base_url))
    assert stored_tags(s3) == {}

    # When the step is retried
    s3.failing_tagging = False
    again = copy(s3, LinkIssuer(download_host.base_url))

    # Then the object is recognised as archived and now carries its SHA-256
    assert again.already_archived is True
    assert stored_tags(s3) == {"sha256": hashlib.sha256(body).hexdigest()}


class _ReadCountingPool(urllib3.PoolManager):
    """A pool whose responses report every body read, to watch how far the copy reads ahead."""

    def __init__(self, on_read: Callable[[int], None]) -> None:
        super().__init__()
        self._on_read = on_read

    # Same signature as PoolManager.urlopen, which urllib3 itself marks as an override mismatch.
    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        return cast(BaseHTTPResponse, _ReadCountingResponse(response, self._on_read))


class _ReadCountingResponse:
    def __init__(self, response: BaseHTTPResponse, on_read: Callable[[int], None]) -> None:
        self._response = response
        self._on_read = on_read

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data = self._response.read(*args, **kwargs)
        self._on_read(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)


@pytest.mark.parametrize("limit", [1, 3])
def test_parts_in_flight_and_read_ahead_stay_bounded(download_host: DownloadHost, s3: SpyS3, limit: int) -> None:
    # Given a download of 8 parts and uploads held back until the copy has read as far as it may
    body = payload(7 * PART_SIZE + 1024)
    download_host.script.body = body
    bytes_read = 0
    most_read_ahead = 0
    may_upload = threading.Event()
    first_batch = threading.Barrier(limit)

    def on_read(size: int) -> None:
        nonlocal bytes_read, most_read_ahead
        bytes_read += size
        most_read_ahead = max(most_read_ahead, bytes_read - s3.parts_done * PART_SIZE)
        # Parts held in flight plus the one waiting for a slot: a bounded copy stops reading here.
        if bytes_read >= (limit + 1) * PART_SIZE or size == 0:
            may_upload.set()

    def before_part(number: int) -> None:
        if number <= limit:
            first_batch.wait(timeout=30)  # every allowed slot is used at once
        assert may_upload.wait(timeout=30)

    s3.before_part = before_part

    # When it is archived with at most `limit` parts in flight
    stored = copy(s3, LinkIssuer(download_host.base_url), max_parts_in_flight=limit, http=_ReadCountingPool(on_read))

    # Then exactly `limit` parts were ever uploaded at once
    assert s3.most_in_flight == limit
    # And the copy never held more than those parts, the one waiting for a slot and one read of look-ahead
    assert most_read_ahead <= (limit + 1) * PART_SIZE + MIB
    assert stored_bytes(s3) == body
    assert stored.s3_checksum == full_object_crc32(body)


def test_archive_bytes_writes_once(s3: SpyS3) -> None:
    # Given an app definition
    definition = b'{"appId": "a-1", "cards": []}'

    # When it is archived, then archived again, then a changed definition is archived to the same key
    first = archive_bytes(s3=s3, bucket=BUCKET, key="apps/a-1.json", body=definition, content_type="application/json")
    again = archive_bytes(s3=s3, bucket=BUCKET, key="apps/a-1.json", body=definition, content_type="application/json")
    with pytest.raises(ArchiveConflictError):
        archive_bytes(s3=s3, bucket=BUCKET, key="apps/a-1.json", body=b"{}", content_type="application/json")

    # Then the first write stored it with its checksum and tag, the second found it, the third was refused
    assert (first.already_archived, again.already_archived) == (False, True)
    assert first.s3_checksum == again.s3_checksum == sha256_b64(definition)
    assert stored_bytes(s3, "apps/a-1.json") == definition
    assert stored_tags(s3, "apps/a-1.json") == {"sha256": hashlib.sha256(definition).hexdigest()}


def test_a_retried_copy_aborts_the_upload_an_attempt_cut_short_left_behind(
    download_host: DownloadHost, s3: SpyS3
) -> None:
    # Given an upload to the key that a timed-out attempt started and never aborted, and one to another key
    body = payload(12 * MIB)
    download_host.script.body = body
    left = s3.client.create_multipart_upload(Bucket=BUCKET, Key=KEY)["UploadId"]
    other = s3.client.create_multipart_upload(Bucket=BUCKET, Key=f"{KEY}.other")["UploadId"]

    # When the copy runs again
    stored = copy(s3, LinkIssuer(download_host.base_url))

    # Then the object is whole, and only the upload left at its own key is gone
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    remaining = {u["UploadId"] for u in s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])}
    assert left not in remaining and other in remaining


# --- the checksum scheme -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(first=st.binary(max_size=4096), second=st.binary(max_size=4096))
def test_combined_crc32_is_the_crc32_of_the_joined_bytes(first: bytes, second: bytes) -> None:
    # S3 checks a FULL_OBJECT checksum against the parts it assembled: the combination must be exact.
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)


def archive_the_old_way(s3: SpyS3, body: bytes, *, tagged: bool) -> None:
    """Write ``body`` at KEY as this module did before CRC32: a composite SHA-256 multipart upload."""
    upload_id = s3.client.create_multipart_upload(Bucket=BUCKET, Key=KEY, ChecksumAlgorithm="SHA256")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(body), PART_SIZE), start=1):
        chunk = body[start : start + PART_SIZE]
        checksum = sha256_b64(chunk)
        answer = s3.client.upload_part(
            Bucket=BUCKET, Key=KEY, UploadId=upload_id, PartNumber=number, Body=chunk, ChecksumSHA256=checksum
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum})
    s3.client.complete_multipart_upload(Bucket=BUCKET, Key=KEY, UploadId=upload_id, MultipartUpload={"Parts": parts})
    if tagged:
        sha256 = hashlib.sha256(body).hexdigest()
        s3.client.put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": [{"Key": "sha256", "Value": sha256}]})


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "tag-lost"])
def test_objects_archived_with_composite_sha256_are_still_recognised(
    download_host: DownloadHost, s3: SpyS3, tagged: bool
) -> None:
    # Given an artifact archived before the move to CRC32 (composite SHA-256), with or without its tag
    body = payload(12 * MIB)
    archive_the_old_way(s3, body, tagged=tagged)
    download_host.script.body = body

    # When the same bytes are archived again to that key
    again = copy(s3, LinkIssuer(download_host.base_url))

    # Then they are already archived, the manifest reports the SHA-256 scheme S3 holds, and the tag is there
    assert again.already_archived is True
    assert again.sha256 == hashlib.sha256(body).hexdigest()
    assert again.s3_checksum_algorithm == "SHA256"
    assert again.s3_checksum.split("-")[0] == composite_checksum(body, PART_SIZE).split("-")[0]
    assert stored_tags(s3) == {"sha256": again.sha256}
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "tag-lost"])
def test_other_bytes_over_a_composite_sha256_object_conflict(
    download_host: DownloadHost, s3: SpyS3, tagged: bool
) -> None:
    # Given an old-scheme object, and a download of the same size but other bytes
    original = payload(12 * MIB, seed=1)
    archive_the_old_way(s3, original, tagged=tagged)
    download_host.script.body = payload(12 * MIB, seed=2)

    # When it is archived to that key, then it is refused and the original stays, untagged if it was
    with pytest.raises(ArchiveConflictError):
        copy(s3, LinkIssuer(download_host.base_url))
    assert stored_bytes(s3) == original
    assert stored_tags(s3) == ({"sha256": hashlib.sha256(original).hexdigest()} if tagged else {})
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_whole_object_crc32_s3_refuses_is_a_checksum_mismatch_and_leaves_nothing(
    download_host: DownloadHost, s3: SpyS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 finding that the parts it assembled do not match the whole object's CRC32
    download_host.script.body = payload(12 * MIB)
    refusal = ClientError({"Error": {"Code": "BadDigest", "Message": "CRC32 mismatch"}}, "CompleteMultipartUpload")

    def refuse(**_: Any) -> Any:
        raise refusal

    monkeypatch.setattr(s3, "complete_multipart_upload", refuse, raising=False)

    # When the download is archived, then the copy fails as a mismatch and the upload is aborted
    with pytest.raises(ChecksumMismatchError, match="do not match the checksum"):
        copy(s3, LinkIssuer(download_host.base_url))
    assert_archive_empty(s3)
