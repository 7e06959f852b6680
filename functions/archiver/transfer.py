"""Copy a download into the archive bucket, streaming, verified and write-once.

A download link is fetched with urllib3 and its body streamed into S3 in parts, so memory stays
about ``part_size x (max_parts_in_flight + 2)`` whatever the artifact's size (the parts uploading,
the part being read, and its reads while they are joined; ``make bench`` measures it). Every
object is written with ``IfNoneMatch="*"``: an archive key is written once and never
overwritten. A re-run that finds the same bytes already archived succeeds
(``already_archived``); one that finds different bytes fails with ``ArchiveConflictError``.

What is deliberately not done here: retrying a failed download or write. A truncated body, a
5xx or a timeout raises ``DownloadFailedError``, and S3 failing a part or the completion raises
``ServiceBusyError`` after the upload is aborted; the state machine retries the whole step, and
because nothing partial is ever left in the archive, that retry starts clean. Resuming with a
``Range`` request would save bytes on huge artifacts but needs the source pinned (``If-Match``
on its ETag), ``206``/``Content-Range`` validation and the half-filled part carried across
links; the artifacts archived here (bundles restore only up to 1 GB) do not justify it. The
one retry done here is asking for a fresh link when the download host answers 403, because
only the caller can issue a new link.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeAlias
from urllib.parse import urlencode

import urllib3
from botocore.exceptions import ClientError

from archiver.core.errors import (
    ArchiveConflictError,
    ChecksumMismatchError,
    DownloadFailedError,
    LinkExpiredError,
)
from archiver.core.links import DownloadLinkPolicy, origin, redact
from archiver.core.log_redaction import redact_urllib3_request_logs
from archiver.core.observability import logger
from archiver.core.service_errors import naming_errors

S3Client: TypeAlias = Any
"""A boto3 S3 client (typed loosely: the project does not depend on mypy-boto3 stubs)."""

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's smallest part (except the last)
MAX_PARTS = 10_000  # S3's most parts per upload
SHA256_TAG = "sha256"

# Reads from the socket are this size at most; a part is assembled from several of them.
_READ_SIZE = 1 * MIB
# Errors urllib3 or the standard library may raise while a response is opened or read.
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


@dataclass(frozen=True)
class StoredObject:
    """An object in the archive, as written (or found already written) by this module."""

    bucket: str
    key: str
    size: int
    sha256: str
    """Hex SHA-256 of the whole object, computed while streaming."""
    s3_checksum: str
    """What S3 records: base64 SHA-256 of the object, or composite ``<base64>-<parts>`` for multipart."""
    version_id: str | None
    already_archived: bool
    """True when an identical object was already at the key (an idempotent re-run)."""
    link_refreshes: int
    """How many fresh links were needed after the first (0 normally)."""


class _LinkRefused(Exception):
    """The download host answered 403: a presigned link that expired (or was denied)."""


@dataclass(frozen=True)
class _Target:
    s3: S3Client
    bucket: str
    key: str
    content_type: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class _UploadedPart:
    number: int
    etag: str
    digest: bytes

    def as_completed_part(self) -> dict[str, Any]:
        return {"PartNumber": self.number, "ETag": self.etag, "ChecksumSHA256": _b64(self.digest)}


def archive_download(
    *,
    fetch_link: Callable[[], str],
    s3: S3Client,
    bucket: str,
    key: str,
    content_type: str,
    policy: DownloadLinkPolicy,
    part_size: int,
    max_parts_in_flight: int,
    max_link_refreshes: int,
    connect_timeout: float,
    read_timeout: float,
    http: urllib3.PoolManager | None = None,
) -> StoredObject:
    """Stream a download into the archive, write-once, asking for fresh links when one expires.

    Parameters
    ----------
    fetch_link
        Returns a fresh download link (for instance by describing the export job again).
        Called once, then once more each time the download host refuses a link with 403.
    s3
        A boto3 S3 client.
    bucket, key
        Where the object goes in the archive.
    content_type
        The object's ``Content-Type``.
    policy
        Every link is checked against it before it is fetched.
    part_size
        Bytes per multipart part (at least 5 MiB); smaller downloads take a single PUT.
    max_parts_in_flight
        Parts uploaded at once; memory stays about ``part_size x (max_parts_in_flight + 2)``.
    max_link_refreshes
        Fresh links asked for after the first before giving up.
    connect_timeout, read_timeout
        Seconds to wait for the download host to accept the connection, and for each read.
    http
        A urllib3 pool to reuse; by default one is made for this copy.

    Returns
    -------
    StoredObject
        The archived object, or the identical one found already archived at the key.

    Raises
    ------
    DisallowedLinkError
        A link is not allowed by ``policy``; it is not fetched.
    LinkExpiredError
        The download host refused ``max_link_refreshes + 1`` links in a row with 403.
    DownloadFailedError
        Another HTTP error status, a redirect, a connection error, a timeout, or a body
        shorter than its ``Content-Length``. Nothing is left in the archive.
    ArchiveConflictError
        A different object already exists at the key; it is left untouched.
    ChecksumMismatchError
        S3 rejected a part or object because its bytes did not match their SHA-256.
    """
    if part_size < MIN_PART_SIZE or max_parts_in_flight < 1 or max_link_refreshes < 0:
        raise ValueError("part_size must be >= 5 MiB, max_parts_in_flight >= 1, max_link_refreshes >= 0")
    redact_urllib3_request_logs()
    target = _Target(s3, bucket, key, content_type)
    pool = http if http is not None else _new_pool()
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    for refreshes in range(max_link_refreshes + 1):
        link = fetch_link()
        policy.check(link)
        try:
            with naming_errors("S3", resource=str(target)):
                stored = _copy_link(link, pool, timeout, target, part_size, max_parts_in_flight)
        except _LinkRefused:
            logger.info(
                "Download link refused with HTTP 403 (expired): asking for a fresh one", extra={"link": redact(link)}
            )
            continue
        return replace(stored, link_refreshes=refreshes)
    raise LinkExpiredError(
        f"The download host refused {max_link_refreshes + 1} links in a row with HTTP 403 (expired) "
        f"while archiving to {target}"
    )


def archive_bytes(*, s3: S3Client, bucket: str, key: str, body: bytes, content_type: str) -> StoredObject:
    """Write a small in-memory body to the archive, write-once.

    Parameters
    ----------
    s3
        A boto3 S3 client.
    bucket, key
        Where the object goes in the archive.
    body
        The whole object (an app definition, a manifest): sent in a single PUT.
    content_type
        The object's ``Content-Type``.

    Returns
    -------
    StoredObject
        The archived object, or the identical one found already archived at the key.

    Raises
    ------
    ArchiveConflictError
        A different object already exists at the key; it is left untouched.
    ChecksumMismatchError
        S3 rejected the body because it did not match its SHA-256.
    """
    target = _Target(s3, bucket, key, content_type)
    with naming_errors("S3", resource=str(target)):
        return _put_once(target, body, hashlib.sha256(body).digest())


def holds(s3: S3Client, bucket: str, key: str, *, size: int, sha256: str) -> bool:
    """Whether the archive holds an object of ``size`` bytes at ``key`` tagged with ``sha256``."""
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    recorded = next((tag["Value"] for tag in tags if tag["Key"] == SHA256_TAG), None)
    return bool(head.get("ContentLength") == size and recorded == sha256)


def _new_pool() -> urllib3.PoolManager:
    # One connection per host is all a sequential download needs.
    return urllib3.PoolManager(num_pools=2, maxsize=1)


def _copy_link(
    link: str,
    pool: urllib3.PoolManager,
    timeout: urllib3.Timeout,
    target: _Target,
    part_size: int,
    max_parts_in_flight: int,
) -> StoredObject:
    response = _open(link, pool, timeout)
    try:
        expected_size = _content_length(response, link)
        if expected_size is not None and expected_size > part_size * MAX_PARTS:
            raise DownloadFailedError(
                f"The download from {origin(link)} is {expected_size} bytes, more than {MAX_PARTS} parts "
                f"of {part_size} bytes: raise the part size"
            )
        reader = _PartReader(response, link, part_size=part_size, expected_size=expected_size)
        if reader.fits_in_one_part():
            stored = _put_once(target, reader.next_part() or b"", reader.whole.digest())
        else:
            stored = _upload_multipart(target, reader, max_parts_in_flight)
    except BaseException:
        # Unread body bytes would poison a pooled connection: drop the connection instead.
        response.close()
        raise
    finally:
        response.release_conn()
    return stored


def _open(link: str, pool: urllib3.PoolManager, timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
    try:
        response = pool.request(
            "GET",
            link,
            # The archive keeps the bytes exactly as served, never a decompressed copy.
            headers={"Accept-Encoding": "identity"},
            timeout=timeout,
            # No retries (the state machine owns them) and no redirects: a redirect could lead
            # to a host the policy never saw, and a presigned S3 link has no business redirecting.
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=False,
        )
    except _NETWORK_ERRORS as error:
        # urllib3's messages may quote the link, query included: name only the error's class.
        raise DownloadFailedError(f"Could not download from {origin(link)}: {type(error).__name__}") from None
    if response.status == 200:
        return response
    # An error body is of no use, and reading it could take long: drop the connection.
    response.close()
    response.release_conn()
    if response.status == 403:
        raise _LinkRefused()
    raise DownloadFailedError(f"The download from {origin(link)} answered HTTP {response.status}")


def _content_length(response: urllib3.BaseHTTPResponse, link: str) -> int | None:
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise DownloadFailedError(f"The download from {origin(link)} sent an invalid Content-Length")
    return int(raw)


class _PartReader:
    """Reads a response body as parts of exactly ``part_size`` bytes (the last may be shorter).

    It hashes the whole body as it goes and refuses a body whose length differs from its
    ``Content-Length``, so a short download fails before its last part reaches S3.
    """

    def __init__(
        self, response: urllib3.BaseHTTPResponse, link: str, *, part_size: int, expected_size: int | None
    ) -> None:
        self.whole = hashlib.sha256()
        self._response = response
        self._origin = origin(link)
        self._part_size = part_size
        self._expected_size = expected_size
        self._size = 0
        self._ended = False
        # One read of look-ahead tells whether the part just read was the last one.
        self._lookahead = b""
        self._first_part: bytes | None = None

    def fits_in_one_part(self) -> bool:
        """Read the first part (kept for ``next_part``) and tell whether it is the whole body."""
        self._first_part = self._read_part()
        return self._finished

    def next_part(self) -> bytes | None:
        """Return the next part, or None once the body is exhausted."""
        if self._first_part is not None:
            # Hand the first part over without keeping a reference to it.
            part, self._first_part = self._first_part, None
            return part
        if self._finished:
            return None
        return self._read_part()

    def parts(self) -> Iterator[bytes]:
        """Yield the remaining parts (the first one included if not yet taken)."""
        while (part := self.next_part()) is not None:
            yield part

    @property
    def size(self) -> int:
        """Bytes read so far (the whole body's size once it is exhausted)."""
        return self._size

    @property
    def _finished(self) -> bool:
        return self._ended and not self._lookahead

    def _read_part(self) -> bytes:
        chunks = [self._lookahead] if self._lookahead else []
        filled = len(self._lookahead)
        self._lookahead = b""
        while filled < self._part_size and not self._ended:
            chunk = self._read(min(_READ_SIZE, self._part_size - filled))
            chunks.append(chunk)
            filled += len(chunk)
        if not self._ended:
            self._lookahead = self._read(_READ_SIZE)
        return b"".join(chunks)

    def _read(self, size: int) -> bytes:
        try:
            chunk = self._response.read(size, decode_content=False)
        except _NETWORK_ERRORS as error:
            raise DownloadFailedError(
                f"The download from {self._origin} broke off after {self._size} bytes: {type(error).__name__}"
            ) from None
        self._size += len(chunk)
        self.whole.update(chunk)
        if not chunk:
            self._ended = True
            self._check_complete()
        elif self._expected_size is not None and self._size > self._expected_size:
            raise DownloadFailedError(f"The download from {self._origin} is longer than its Content-Length")
        return chunk

    def _check_complete(self) -> None:
        if self._expected_size is not None and self._size != self._expected_size:
            raise DownloadFailedError(
                f"The download from {self._origin} was truncated: {self._size} of {self._expected_size} bytes received"
            )


def _put_once(target: _Target, body: bytes, digest: bytes) -> StoredObject:
    """PUT a whole object unless the key exists, tagged with its SHA-256."""
    checksum = _b64(digest)
    sha256 = digest.hex()
    try:
        with _bad_digest_as_mismatch(target):
            response = target.s3.put_object(
                Bucket=target.bucket,
                Key=target.key,
                Body=body,
                ContentType=target.content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                IfNoneMatch="*",
                Tagging=urlencode({SHA256_TAG: sha256}),
            )
    except ClientError as error:
        if not _precondition_failed(error):
            raise
        return _already_archived(target, size=len(body), sha256=sha256, s3_checksum=checksum)
    return _stored(target, len(body), sha256, checksum, response.get("VersionId"))


def _upload_multipart(target: _Target, reader: _PartReader, max_parts_in_flight: int) -> StoredObject:
    """Upload the body as a multipart upload, aborted on any failure so nothing partial remains."""
    _abort_left_behind(target)
    upload_id = target.s3.create_multipart_upload(
        Bucket=target.bucket, Key=target.key, ContentType=target.content_type, ChecksumAlgorithm="SHA256"
    )["UploadId"]
    completed = False
    try:
        parts = _upload_parts(target, upload_id, reader.parts(), max_parts_in_flight)
        size = reader.size
        sha256 = reader.whole.hexdigest()
        checksum = _composite_checksum(parts)
        try:
            response = target.s3.complete_multipart_upload(
                Bucket=target.bucket,
                Key=target.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [part.as_completed_part() for part in parts]},
                IfNoneMatch="*",
            )
        except ClientError as error:
            if not _precondition_failed(error):
                raise
            # The upload still exists after a refused completion: the finally below aborts it.
            return _already_archived(target, size=size, sha256=sha256, s3_checksum=checksum)
        completed = True
    finally:
        if not completed:
            _abort(target, upload_id)
    version_id = _version(response.get("VersionId"))
    # Metadata is fixed when the upload is created, before the digest is known, so the
    # whole-object SHA-256 goes on as a tag. If tagging fails the object stays untagged; the
    # state machine's retry finds it already archived and adds the tag then.
    _add_sha256_tag(target, sha256, version_id=version_id, existing=[])
    return _stored(target, size, sha256, checksum, version_id)


def _upload_parts(
    target: _Target, upload_id: str, parts: Iterator[bytes], max_parts_in_flight: int
) -> list[_UploadedPart]:
    """Upload parts on a small pool, reading the next part only when a slot is free."""
    slots = threading.BoundedSemaphore(max_parts_in_flight)
    futures: list[Future[_UploadedPart]] = []
    failed: list[Future[_UploadedPart]] = []

    def part_done(future: Future[_UploadedPart]) -> None:
        if not future.cancelled() and future.exception() is not None:
            failed.append(future)
        slots.release()

    with ThreadPoolExecutor(max_workers=max_parts_in_flight, thread_name_prefix="archive-part") as pool:
        try:
            for number, body in enumerate(parts, start=1):
                if number > MAX_PARTS:
                    raise DownloadFailedError(
                        f"The download for {target} needs more than {MAX_PARTS} parts: raise the part size"
                    )
                # Blocking here is what bounds memory: one part waits, the others are in flight.
                slots.acquire()
                if failed:
                    failed[0].result()  # stop reading at the first failed part; raises its error
                future = pool.submit(_upload_part, target, upload_id, number, body)
                future.add_done_callback(part_done)
                futures.append(future)
                # Without this the loop variable would keep an uploaded part alive while the next is read.
                del body
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [future.result() for future in futures]


def _upload_part(target: _Target, upload_id: str, number: int, body: bytes) -> _UploadedPart:
    digest = hashlib.sha256(body).digest()
    with _bad_digest_as_mismatch(target):
        response = target.s3.upload_part(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=_b64(digest),
        )
    return _UploadedPart(number, response["ETag"], digest)


def _abort(target: _Target, upload_id: str) -> None:
    try:
        target.s3.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
    except Exception:
        # Best effort: the original error matters more, and the bucket's lifecycle rule for
        # incomplete uploads cleans up whatever an abort leaves behind.
        logger.warning("Could not abort a multipart upload", extra={"target": str(target)}, exc_info=True)


def _abort_left_behind(target: _Target) -> None:
    """Abort uploads to this key that an earlier attempt left behind.

    A function that times out mid-copy never reaches its abort; its retry is the next thing
    to write this key (keys are per run and item), so it cleans up rather than leave the
    parts to the bucket's one-day lifecycle rule.
    """
    listed = target.s3.list_multipart_uploads(Bucket=target.bucket, Prefix=target.key)
    for upload in listed.get("Uploads", []):
        if upload["Key"] == target.key:
            logger.info("Aborting an upload an earlier attempt left behind", extra={"target": str(target)})
            _abort(target, upload["UploadId"])


def _already_archived(target: _Target, *, size: int, sha256: str, s3_checksum: str) -> StoredObject:
    """Accept the object already at the key if it holds our bytes; otherwise refuse to touch it."""
    head = target.s3.head_object(Bucket=target.bucket, Key=target.key, ChecksumMode="ENABLED")
    existing_checksum = head.get("ChecksumSHA256")
    tags = target.s3.get_object_tagging(Bucket=target.bucket, Key=target.key)["TagSet"]
    recorded_sha256 = next((tag["Value"] for tag in tags if tag["Key"] == SHA256_TAG), None)
    if head.get("ContentLength") != size or not (
        _same_s3_checksum(existing_checksum, s3_checksum)
        or (_either_composite(head, s3_checksum) and recorded_sha256 == sha256)
    ):
        raise ArchiveConflictError(f"{target} already holds a different object; archived objects are never overwritten")
    version_id = _version(head.get("VersionId"))
    if recorded_sha256 is None:
        _add_sha256_tag(target, sha256, version_id=version_id, existing=tags)
    return StoredObject(
        bucket=target.bucket,
        key=target.key,
        size=size,
        sha256=sha256,
        s3_checksum=s3_checksum,
        version_id=version_id,
        already_archived=True,
        link_refreshes=0,
    )


def _same_s3_checksum(existing: str | None, ours: str) -> bool:
    # Real S3 reports a multipart object's checksum as "<base64>-<parts>"; moto 5.2's
    # head_object drops the "-<parts>". The base64 digest alone decides: a composite digest
    # and a whole-object digest are hashes of different inputs and cannot coincide.
    return existing is not None and existing.split("-")[0] == ours.split("-")[0]


def _either_composite(head: dict[str, Any], ours: str) -> bool:
    # The same bytes split into other parts (the part size setting changed between runs, or
    # one run used a single PUT) give another composite checksum. Then the SHA-256 tag this
    # module wrote alongside the object is the only record of its whole-object digest.
    existing = f"{head.get('ChecksumSHA256', '')} {head.get('ETag', '')}"
    return "-" in ours or "-" in existing or head.get("ChecksumType") == "COMPOSITE"


def _add_sha256_tag(target: _Target, sha256: str, *, version_id: str | None, existing: list[dict[str, str]]) -> None:
    version = {"VersionId": version_id} if version_id is not None else {}
    target.s3.put_object_tagging(
        Bucket=target.bucket,
        Key=target.key,
        Tagging={"TagSet": [*existing, {"Key": SHA256_TAG, "Value": sha256}]},
        **version,
    )


def _stored(target: _Target, size: int, sha256: str, checksum: str, version_id: str | None) -> StoredObject:
    return StoredObject(
        bucket=target.bucket,
        key=target.key,
        size=size,
        sha256=sha256,
        s3_checksum=checksum,
        version_id=_version(version_id),
        already_archived=False,
        link_refreshes=0,
    )


def _composite_checksum(parts: list[_UploadedPart]) -> str:
    """S3's checksum of a multipart SHA256 object: the SHA-256 of the parts' digests, and their count."""
    combined = hashlib.sha256(b"".join(part.digest for part in parts)).digest()
    return f"{_b64(combined)}-{len(parts)}"


def _version(version_id: str | None) -> str | None:
    # An unversioned bucket has no version id; S3 (and moto) may still say "null".
    return None if version_id in (None, "null") else version_id


def _precondition_failed(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.response.get("Error", {}).get("Code") == "PreconditionFailed" or status == 412


@contextmanager
def _bad_digest_as_mismatch(target: _Target) -> Iterator[None]:
    """Turn S3's ``BadDigest`` (bytes that do not match their checksum) into ``ChecksumMismatchError``."""
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "BadDigest":
            raise
        raise ChecksumMismatchError(
            f"S3 refused bytes for {target}: they do not match the SHA-256 computed while streaming"
        ) from error


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")
