"""Copy a download into the archive bucket, streaming, verified and write-once.

A download link is fetched with urllib3 and its body streamed into S3 in parts, so memory stays
about ``part_size x (max_parts_in_flight + 1)`` whatever the artifact's size: the parts uploading
and the one being read, each read in one call straight from the socket. (The allocator may keep
up to two freed parts besides; ``make bench`` measures the whole process against that bound.)

Every byte is hashed once with SHA-256 as it is read (the manifest's ``sha256``). A single PUT
carries that SHA-256, which S3 verifies. A multipart upload carries each part's CRC32 (zlib's, far
cheaper than a second SHA-256), which S3 verifies part by part, and the whole object's CRC32
(``ChecksumType=FULL_OBJECT``, combined from the parts'), which S3 verifies against the parts it
assembled. Parts' SHA-256 digests could not be combined into the object's, so SHA-256 per part
would hash every byte twice. Every object is written with ``IfNoneMatch="*"``: an archive key is
written once and never overwritten. A re-run that finds the same bytes already archived succeeds
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
import zlib
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
SINGLE_PUT_CHECKSUM = "SHA256"
"""The checksum S3 verifies and records for an object written with one PUT: the object's SHA-256."""
MULTIPART_CHECKSUM = "CRC32"
"""The checksum S3 verifies per part and records for a multipart object: its full-object CRC32."""

# The look-ahead read after each part (telling a last part when the length is unknown).
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
    """What S3 records for the object, base64, of the algorithm ``s3_checksum_algorithm`` names."""
    s3_checksum_algorithm: str
    """``SHA256`` (one PUT: the object's SHA-256) or ``CRC32`` (multipart: the whole object's CRC32,
    ``ChecksumType=FULL_OBJECT``). Objects archived before that change hold a composite SHA-256
    (``<base64>-<parts>``, ``SHA256``)."""
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
    size: int
    crc32: int

    def as_completed_part(self) -> dict[str, Any]:
        return {"PartNumber": self.number, "ETag": self.etag, "ChecksumCRC32": _crc32_b64(self.crc32)}


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
        Parts uploaded at once; memory stays about ``part_size x (max_parts_in_flight + 1)``.
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
        S3 rejected a part or object because its bytes did not match their checksum.
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
        reader.read_first_part()
        if reader.finished:
            stored = _put_once(target, reader.take_first_part(), reader.whole.digest())
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

    It hashes the whole body with SHA-256 as it goes, each read while it is fresh in the cache,
    and refuses a body whose length differs from its ``Content-Length``, so a short download
    fails before its last part reaches S3.
    """

    def __init__(
        self, response: urllib3.BaseHTTPResponse, link: str, *, part_size: int, expected_size: int | None
    ) -> None:
        self.whole = hashlib.sha256()
        self.part_size = part_size
        self._response = response
        self._origin = origin(link)
        self._expected_size = expected_size
        self._size = 0
        self._ended = False
        self._lookahead = b""
        self._first_part: bytes | None = None

    @property
    def finished(self) -> bool:
        """Whether the body is exhausted (its last part has been read)."""
        return self._ended and not self._lookahead

    @property
    def size(self) -> int:
        """Bytes read so far (the whole body's size once it is exhausted)."""
        return self._size

    def read_first_part(self) -> None:
        """Read the first part and keep it (``finished`` then tells whether it is the whole body)."""
        self._first_part = self.read_part()

    def take_first_part(self) -> bytes:
        """Hand the first part over, keeping no reference to it (an uploaded part is freed at once)."""
        part, self._first_part = self._first_part, None
        if part is None:
            raise RuntimeError("the first part was not read, or was taken already")
        return part

    def read_part(self) -> bytes:
        """Read and return the next part (empty only for an empty body)."""
        chunks = [self._lookahead] if self._lookahead else []
        filled = len(self._lookahead)
        self._lookahead = b""
        # A part is asked for in one read: urllib3 and http.client fill it straight from the
        # socket, and a single chunk needs no join (b"".join returns it as is).
        wanted = self.part_size
        if self._expected_size is not None:
            wanted = min(wanted, self._expected_size - self._size + filled)
        while filled < wanted and not self._ended:
            chunk = self._read(wanted - filled)
            chunks.append(chunk)
            filled += len(chunk)
        if not self._ended and (self._expected_size is None or self._size >= self._expected_size):
            # One read of look-ahead tells whether this was the last part: for a body of unknown
            # length, or to find the end (an empty read) of one read to its length.
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
    """PUT a whole object unless the key exists, tagged with its SHA-256 (which S3 verifies)."""
    checksum = _b64(digest)
    sha256 = digest.hex()
    try:
        with _bad_digest_as_mismatch(target):
            response = target.s3.put_object(
                Bucket=target.bucket,
                Key=target.key,
                Body=body,
                ContentType=target.content_type,
                ChecksumAlgorithm=SINGLE_PUT_CHECKSUM,
                ChecksumSHA256=checksum,
                IfNoneMatch="*",
                Tagging=urlencode({SHA256_TAG: sha256}),
            )
    except ClientError as error:
        if not _precondition_failed(error):
            raise
        return _already_archived(target, size=len(body), sha256=sha256, s3_checksum=checksum, algorithm="SHA256")
    return _stored(target, len(body), sha256, checksum, SINGLE_PUT_CHECKSUM, response.get("VersionId"))


def _upload_multipart(target: _Target, reader: _PartReader, max_parts_in_flight: int) -> StoredObject:
    """Upload the body as a multipart upload, aborted on any failure so nothing partial remains."""
    _abort_left_behind(target)
    upload_id = target.s3.create_multipart_upload(
        Bucket=target.bucket,
        Key=target.key,
        ContentType=target.content_type,
        ChecksumAlgorithm=MULTIPART_CHECKSUM,
        ChecksumType="FULL_OBJECT",
    )["UploadId"]
    completed = False
    try:
        parts = _upload_parts(target, upload_id, reader, max_parts_in_flight)
        size = reader.size
        sha256 = reader.whole.hexdigest()
        checksum = _crc32_b64(_combined_crc32(parts))
        try:
            with _bad_digest_as_mismatch(target):
                response = target.s3.complete_multipart_upload(
                    Bucket=target.bucket,
                    Key=target.key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": [part.as_completed_part() for part in parts]},
                    # S3 checks the parts it assembled against the whole object's CRC32.
                    ChecksumCRC32=checksum,
                    ChecksumType="FULL_OBJECT",
                    IfNoneMatch="*",
                )
        except ClientError as error:
            if not _precondition_failed(error):
                raise
            # The upload still exists after a refused completion: the finally below aborts it.
            return _already_archived(target, size=size, sha256=sha256, s3_checksum=checksum, algorithm="CRC32")
        completed = True
    finally:
        if not completed:
            _abort(target, upload_id)
    version_id = _version(response.get("VersionId"))
    # Metadata is fixed when the upload is created, before the digest is known, so the
    # whole-object SHA-256 goes on as a tag. If tagging fails the object stays untagged; the
    # state machine's retry finds it already archived and adds the tag then.
    _add_sha256_tag(target, sha256, version_id=version_id, existing=[])
    return _stored(target, size, sha256, checksum, MULTIPART_CHECKSUM, version_id)


def _upload_parts(
    target: _Target, upload_id: str, reader: _PartReader, max_parts_in_flight: int
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
            # The loop's `body` is the only reference to a part: once uploaded it is freed.
            body: bytes | None = reader.take_first_part()
            number = 0
            while body is not None:
                number += 1
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
                # Dropped before the next is read, or an uploaded part would stay alive meanwhile.
                body = None
                if not reader.finished:
                    body = reader.read_part()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [future.result() for future in futures]


def _upload_part(target: _Target, upload_id: str, number: int, body: bytes) -> _UploadedPart:
    # zlib releases the GIL over a part: the next part's reads go on meanwhile.
    crc32 = zlib.crc32(body)
    with _bad_digest_as_mismatch(target):
        response = target.s3.upload_part(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm=MULTIPART_CHECKSUM,
            ChecksumCRC32=_crc32_b64(crc32),
        )
    return _UploadedPart(number, response["ETag"], len(body), crc32)


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


def _already_archived(target: _Target, *, size: int, sha256: str, s3_checksum: str, algorithm: str) -> StoredObject:
    """Accept the object already at the key if it holds our bytes; otherwise refuse to touch it.

    The bytes are ours when the object's size matches and either S3's own SHA-256 of the whole
    object equals ours (a single PUT), or the SHA-256 tag this module wrote beside it does (any
    object, whatever its parts or checksum scheme, the composite SHA-256 of earlier versions of
    this module included). A CRC32 is no proof that two objects are the same, so an object
    without its tag (tagging failed after the write) is read back and hashed once, then tagged.
    """
    head = target.s3.head_object(Bucket=target.bucket, Key=target.key, ChecksumMode="ENABLED")
    tags = target.s3.get_object_tagging(Bucket=target.bucket, Key=target.key)["TagSet"]
    recorded_sha256 = next((tag["Value"] for tag in tags if tag["Key"] == SHA256_TAG), None)
    version_id = _version(head.get("VersionId"))
    same = head.get("ContentLength") == size and (
        (algorithm == "SHA256" and _same_whole_sha256(head, s3_checksum))
        or recorded_sha256 == sha256
        or (recorded_sha256 is None and _sha256_of_object(target, version_id) == sha256)
    )
    if not same:
        raise ArchiveConflictError(f"{target} already holds a different object; archived objects are never overwritten")
    if recorded_sha256 is None:
        _add_sha256_tag(target, sha256, version_id=version_id, existing=tags)
    existing_algorithm, existing_checksum = _recorded_checksum(head)
    return StoredObject(
        bucket=target.bucket,
        key=target.key,
        size=size,
        sha256=sha256,
        # What S3 holds for the object found, which an earlier scheme may have written.
        s3_checksum=existing_checksum or s3_checksum,
        s3_checksum_algorithm=existing_algorithm or algorithm,
        version_id=version_id,
        already_archived=True,
        link_refreshes=0,
    )


def _same_whole_sha256(head: dict[str, Any], ours: str) -> bool:
    # Real S3 reports a composite checksum as "<base64>-<parts>"; moto 5.2's head_object drops
    # the "-<parts>". A composite digest and a whole-object digest are hashes of different
    # inputs and cannot coincide, so the base64 digest alone decides.
    existing = head.get("ChecksumSHA256")
    return existing is not None and existing.split("-")[0] == ours


def _recorded_checksum(head: dict[str, Any]) -> tuple[str | None, str | None]:
    for algorithm in ("CRC32", "SHA256", "CRC32C", "CRC64NVME", "SHA1"):
        value = head.get(f"Checksum{algorithm}")
        if value:
            return algorithm, value
    return None, None


def _sha256_of_object(target: _Target, version_id: str | None) -> str:
    version = {"VersionId": version_id} if version_id is not None else {}
    body = target.s3.get_object(Bucket=target.bucket, Key=target.key, **version)["Body"]
    digest = hashlib.sha256()
    try:
        for chunk in body.iter_chunks(_READ_SIZE):
            digest.update(chunk)
    finally:
        body.close()
    return digest.hexdigest()


def _add_sha256_tag(target: _Target, sha256: str, *, version_id: str | None, existing: list[dict[str, str]]) -> None:
    version = {"VersionId": version_id} if version_id is not None else {}
    target.s3.put_object_tagging(
        Bucket=target.bucket,
        Key=target.key,
        Tagging={"TagSet": [*existing, {"Key": SHA256_TAG, "Value": sha256}]},
        **version,
    )


def _stored(
    target: _Target, size: int, sha256: str, checksum: str, algorithm: str, version_id: str | None
) -> StoredObject:
    return StoredObject(
        bucket=target.bucket,
        key=target.key,
        size=size,
        sha256=sha256,
        s3_checksum=checksum,
        s3_checksum_algorithm=algorithm,
        version_id=_version(version_id),
        already_archived=False,
        link_refreshes=0,
    )


def _combined_crc32(parts: list[_UploadedPart]) -> int:
    """The whole object's CRC32, from its parts' (what S3 computes for a FULL_OBJECT checksum)."""
    crc = 0
    for part in parts:
        crc = crc32_combine(crc, part.crc32, part.size)
    return crc


# CRC32 (zlib's, reflected polynomial) arithmetic over GF(2), as zlib's crc32_combine does it:
# appending ``n`` bytes multiplies the first CRC by x^(8n) modulo the polynomial.
_CRC32_POLY = 0xEDB88320


def _crc32_multiply(a: int, b: int) -> int:
    """a x b modulo the CRC32 polynomial (bit-reflected: bit 31 is x^0)."""
    product = 0
    mask = 1 << 31
    while mask:
        if a & mask:
            product ^= b
        b = (b >> 1) ^ _CRC32_POLY if b & 1 else b >> 1
        mask >>= 1
    return product


def _crc32_x_to_2n() -> list[int]:
    powers = [1 << 30]  # x^1
    for _ in range(31):
        powers.append(_crc32_multiply(powers[-1], powers[-1]))
    return powers  # powers[k] is x^(2^k)


_CRC32_X_TO_2N = _crc32_x_to_2n()


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC32 of A + B from CRC32(A), CRC32(B) and B's length in bytes (zlib's crc32_combine)."""
    shift = 1 << 31  # x^0
    bits, k = length2 * 8, 0
    while bits:
        if bits & 1:
            shift = _crc32_multiply(_CRC32_X_TO_2N[k % 32], shift)
        bits >>= 1
        k += 1
    return _crc32_multiply(shift, crc1) ^ crc2


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
            f"S3 refused bytes for {target}: they do not match the checksum computed while streaming"
        ) from error


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _crc32_b64(crc32: int) -> str:
    return _b64(crc32.to_bytes(4, "big"))
