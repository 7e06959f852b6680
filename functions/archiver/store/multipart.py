"""S3 multipart uploads: parts in flight on a small pool, each verified by its CRC32, aborted on any failure.

A multipart upload carries each part's CRC32 (zlib's, far cheaper than a second SHA-256), which S3
verifies part by part, and the whole object's CRC32 (``ChecksumType=FULL_OBJECT``, combined from the
parts'), which S3 verifies against the parts it assembled. Parts' SHA-256 digests could not be
combined into the object's, so SHA-256 per part would hash every byte twice. The next part is read
only when a slot is free, so memory stays about ``part_size x (max_parts_in_flight + 1)``.
"""

from __future__ import annotations

import base64
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from archiver.core.errors import DownloadFailedError
from archiver.core.observability import logger
from archiver.store.download import PartReader
from archiver.store.write_once import (
    MULTIPART_CHECKSUM,
    SameBytesAsArchived,
    StoredObject,
    Target,
    accept_existing,
    add_sha256_tag,
    bad_digest_as_mismatch,
    precondition_failed,
    stored_object,
    version_or_none,
)

MIB = 1024 * 1024

MIN_PART_SIZE = 5 * MIB  # S3's smallest part (except the last)


MAX_PARTS = 10_000  # S3's most parts per upload


@dataclass(frozen=True)
class _UploadedPart:
    number: int
    etag: str
    size: int
    crc32: int

    def as_completed_part(self) -> dict[str, Any]:
        return {"PartNumber": self.number, "ETag": self.etag, "ChecksumCRC32": _crc32_b64(self.crc32)}


def upload_multipart(
    target: Target, reader: PartReader, max_parts_in_flight: int, *, unless_sha256: str | None = None
) -> StoredObject:
    """Upload the body as a multipart upload, aborted on any failure so nothing partial remains.

    Bytes whose SHA-256 is ``unless_sha256`` are not kept: the upload is aborted instead of completed
    and ``SameBytesAsArchived`` raised (the digest is only known once every part has been read).
    """
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
        if sha256 == unless_sha256:
            raise SameBytesAsArchived(size=size, sha256=sha256)
        try:
            with bad_digest_as_mismatch(target):
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
            if not precondition_failed(error):
                raise
            # The upload still exists after a refused completion: the finally below aborts it.
            return accept_existing(target, size=size, sha256=sha256, s3_checksum=checksum, algorithm="CRC32")
        completed = True
    finally:
        if not completed:
            _abort(target, upload_id)
    version_id = version_or_none(response.get("VersionId"))
    # Metadata is fixed when the upload is created, before the digest is known, so the
    # whole-object SHA-256 goes on as a tag. If tagging fails the object stays untagged; the
    # state machine's retry finds it already archived and adds the tag then.
    add_sha256_tag(target, sha256, version_id=version_id, existing=[])
    return stored_object(target, size, sha256, checksum, MULTIPART_CHECKSUM, version_id)


def _upload_parts(target: Target, upload_id: str, reader: PartReader, max_parts_in_flight: int) -> list[_UploadedPart]:
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


def _upload_part(target: Target, upload_id: str, number: int, body: bytes) -> _UploadedPart:
    # zlib releases the GIL over a part: the next part's reads go on meanwhile.
    crc32 = zlib.crc32(body)
    with bad_digest_as_mismatch(target):
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


def _abort(target: Target, upload_id: str) -> None:
    try:
        target.s3.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
    except Exception:
        # Best effort: the original error matters more, and the bucket's lifecycle rule for
        # incomplete uploads cleans up whatever an abort leaves behind.
        logger.warning("Could not abort a multipart upload", extra={"target": str(target)}, exc_info=True)


def _abort_left_behind(target: Target) -> None:
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


def _crc32_b64(crc32: int) -> str:
    return base64.b64encode(crc32.to_bytes(4, "big")).decode("ascii")
