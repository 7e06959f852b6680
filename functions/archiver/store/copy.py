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

This module holds the copy itself; each concern has its own: reading a download
(``archiver.store.download``), S3's multipart concurrency (``archiver.store.multipart``) and the
write-once rules (``archiver.store.write_once``).

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

import hashlib
from collections.abc import Callable
from dataclasses import replace

import urllib3

from archiver.core.connections import connection_pool
from archiver.core.errors import DownloadFailedError, LinkExpiredError
from archiver.core.links import DownloadLinkPolicy, origin, redact
from archiver.core.log_redaction import redact_urllib3_request_logs
from archiver.core.observability import logger
from archiver.core.service_errors import naming_errors
from archiver.store.download import LinkRefused, PartReader, content_length, open_download
from archiver.store.multipart import MAX_PARTS, MIN_PART_SIZE, upload_multipart
from archiver.store.write_once import S3Client, SameBytesAsArchived, StoredObject, Target, put_once


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
    unless_sha256: str | None = None,
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
    unless_sha256
        The SHA-256 of the copy already archived (``onlyChanged``): a download of the same bytes is
        not stored (``SameBytesAsArchived``).

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
    SameBytesAsArchived
        The download's bytes are those of ``unless_sha256``: nothing was stored.
    """
    if part_size < MIN_PART_SIZE or max_parts_in_flight < 1 or max_link_refreshes < 0:
        raise ValueError("part_size must be >= 5 MiB, max_parts_in_flight >= 1, max_link_refreshes >= 0")
    redact_urllib3_request_logs()
    target = Target(s3, bucket, key, content_type)
    # One connection per host is all a sequential download needs.
    pool = http if http is not None else connection_pool(hosts=2)
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    for refreshes in range(max_link_refreshes + 1):
        link = fetch_link()
        policy.check(link)
        try:
            with naming_errors("S3", resource=str(target)):
                stored = _copy_link(link, pool, timeout, target, part_size, max_parts_in_flight, unless_sha256)
        except LinkRefused:
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
    target = Target(s3, bucket, key, content_type)
    with naming_errors("S3", resource=str(target)):
        return put_once(target, body, hashlib.sha256(body).digest())


def _copy_link(
    link: str,
    pool: urllib3.PoolManager,
    timeout: urllib3.Timeout,
    target: Target,
    part_size: int,
    max_parts_in_flight: int,
    unless_sha256: str | None,
) -> StoredObject:
    response = open_download(link, pool, timeout)
    try:
        expected_size = content_length(response, link)
        if expected_size is not None and expected_size > part_size * MAX_PARTS:
            raise DownloadFailedError(
                f"The download from {origin(link)} is {expected_size} bytes, more than {MAX_PARTS} parts "
                f"of {part_size} bytes: raise the part size"
            )
        reader = PartReader(response, link, part_size=part_size, expected_size=expected_size)
        reader.read_first_part()
        if reader.finished:
            if reader.whole.hexdigest() == unless_sha256:
                raise SameBytesAsArchived(size=reader.size, sha256=reader.whole.hexdigest())
            stored = put_once(target, reader.take_first_part(), reader.whole.digest())
        else:
            stored = upload_multipart(target, reader, max_parts_in_flight, unless_sha256=unless_sha256)
    except BaseException:
        # Unread body bytes would poison a pooled connection: drop the connection instead.
        response.close()
        raise
    finally:
        response.release_conn()
    return stored
