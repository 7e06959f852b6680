"""The write-once rules: an archive key is written once, and what is found there must be our bytes.

Every object is written with ``IfNoneMatch="*"`` and tagged with the whole object's SHA-256 (object
metadata cannot hold it: it is fixed when a multipart upload starts, before the streamed digest is
known). A re-run that finds the same bytes already archived succeeds (``already_archived``); one that
finds different bytes fails with ``ArchiveConflictError`` and leaves the object untouched.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from archiver.core.errors import ArchiveConflictError, ChecksumMismatchError
from archiver.core.service_errors import naming_errors, object_missing

S3Client: TypeAlias = Any
"""A boto3 S3 client (typed loosely: the project does not depend on mypy-boto3 stubs)."""

SHA256_TAG = "sha256"
"""The tag every archived object carries: the hex SHA-256 of the whole object."""

SINGLE_PUT_CHECKSUM = "SHA256"
"""The checksum S3 verifies and records for an object written with one PUT: the object's SHA-256."""
MULTIPART_CHECKSUM = "CRC32"
"""The checksum S3 verifies per part and records for a multipart object: its full-object CRC32."""

# Reading an object back to hash it (an untagged object found at a key), this much at a time.
_READ_BACK_CHUNK = 1024 * 1024


class SameBytesAsArchived(Exception):  # not an error: the outcome of a copy that kept nothing
    """A copy streamed bytes identical to the copy already archived (``unless_sha256``), so it stored nothing.

    Raised before the write (a single PUT) or instead of completing the multipart upload, which is then
    aborted: no object, partial or whole, is left by it.
    """

    def __init__(self, *, size: int, sha256: str) -> None:
        super().__init__(f"{size} bytes, SHA-256 {sha256}: the same as the archived copy")
        self.size = size
        self.sha256 = sha256


@dataclass(frozen=True)
class StoredObject:
    """An object in the archive, as written (or found already written) by the store."""

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


@dataclass(frozen=True)
class Target:
    """Where an object goes: bucket, key, and the ``Content-Type`` it is written with."""

    s3: S3Client
    bucket: str
    key: str
    content_type: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def sha256_tag(tags: list[dict[str, str]]) -> str | None:
    """The SHA-256 an object's tags record (``SHA256_TAG``), if they do."""
    return next((tag["Value"] for tag in tags if tag["Key"] == SHA256_TAG), None)


def recorded_sha256(s3: S3Client, bucket: str, key: str, *, version_id: str | None = None) -> str | None:
    """The SHA-256 recorded beside the object at ``key`` (that version, if given) when it was archived."""
    version = {"VersionId": version_id} if version_id else {}
    return sha256_tag(s3.get_object_tagging(Bucket=bucket, Key=key, **version)["TagSet"])


def is_archived_intact(s3: S3Client, bucket: str, key: str, *, size: int, sha256: str) -> bool:
    """Whether the archive holds an object of ``size`` bytes at ``key`` tagged with ``sha256``."""
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if object_missing(error):
                return False
            raise
        recorded = recorded_sha256(s3, bucket, key)
    return bool(head.get("ContentLength") == size and recorded == sha256)


def put_once(target: Target, body: bytes, digest: bytes) -> StoredObject:
    """PUT a whole object unless the key exists, tagged with its SHA-256 (which S3 verifies)."""
    checksum = _b64(digest)
    sha256 = digest.hex()
    try:
        with bad_digest_as_mismatch(target):
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
        if not precondition_failed(error):
            raise
        return accept_existing(target, size=len(body), sha256=sha256, s3_checksum=checksum, algorithm="SHA256")
    return stored_object(target, len(body), sha256, checksum, SINGLE_PUT_CHECKSUM, response.get("VersionId"))


def accept_existing(target: Target, *, size: int, sha256: str, s3_checksum: str, algorithm: str) -> StoredObject:
    """Accept the object already at the key if it holds our bytes; otherwise refuse to touch it.

    The bytes are ours when the object's size matches and either S3's own SHA-256 of the whole
    object equals ours (a single PUT), or the SHA-256 tag the store wrote beside it does (any
    object, whatever its parts or checksum scheme, the composite SHA-256 of earlier versions of
    the copy included). A CRC32 is no proof that two objects are the same, so an object
    without its tag (tagging failed after the write) is read back and hashed once, then tagged.
    """
    head = target.s3.head_object(Bucket=target.bucket, Key=target.key, ChecksumMode="ENABLED")
    tags = target.s3.get_object_tagging(Bucket=target.bucket, Key=target.key)["TagSet"]
    recorded = sha256_tag(tags)
    version_id = version_or_none(head.get("VersionId"))
    same = head.get("ContentLength") == size and (
        (algorithm == "SHA256" and _same_whole_sha256(head, s3_checksum))
        or recorded == sha256
        or (recorded is None and _sha256_of_object(target, version_id) == sha256)
    )
    if not same:
        raise ArchiveConflictError(f"{target} already holds a different object; archived objects are never overwritten")
    if recorded is None:
        add_sha256_tag(target, sha256, version_id=version_id, existing=tags)
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


def _sha256_of_object(target: Target, version_id: str | None) -> str:
    version = {"VersionId": version_id} if version_id is not None else {}
    body = target.s3.get_object(Bucket=target.bucket, Key=target.key, **version)["Body"]
    digest = hashlib.sha256()
    try:
        for chunk in body.iter_chunks(_READ_BACK_CHUNK):
            digest.update(chunk)
    finally:
        body.close()
    return digest.hexdigest()


def add_sha256_tag(target: Target, sha256: str, *, version_id: str | None, existing: list[dict[str, str]]) -> None:
    """Tag the object (that version) with its SHA-256, keeping the tags it has (``existing``)."""
    version = {"VersionId": version_id} if version_id is not None else {}
    target.s3.put_object_tagging(
        Bucket=target.bucket,
        Key=target.key,
        Tagging={"TagSet": [*existing, {"Key": SHA256_TAG, "Value": sha256}]},
        **version,
    )


def stored_object(
    target: Target, size: int, sha256: str, checksum: str, algorithm: str, version_id: str | None
) -> StoredObject:
    """The ``StoredObject`` this copy just wrote (not one found already archived)."""
    return StoredObject(
        bucket=target.bucket,
        key=target.key,
        size=size,
        sha256=sha256,
        s3_checksum=checksum,
        s3_checksum_algorithm=algorithm,
        version_id=version_or_none(version_id),
        already_archived=False,
        link_refreshes=0,
    )


def version_or_none(version_id: str | None) -> str | None:
    """The object's version id, or ``None`` for an unversioned bucket."""
    # An unversioned bucket has no version id; S3 (and moto) may still say "null".
    return None if version_id in (None, "null") else version_id


def precondition_failed(error: ClientError) -> bool:
    """Whether S3 refused a write because the key exists (``IfNoneMatch``: 412 ``PreconditionFailed``)."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.response.get("Error", {}).get("Code") == "PreconditionFailed" or status == 412


@contextmanager
def bad_digest_as_mismatch(target: Target) -> Iterator[None]:
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
