"""The JSON documents a run or a restore keeps in the bucket: read, written, stamped, and their error records.

Item steps write their outcome to the bucket instead of returning it through the state machine
(a run's outcomes can outgrow the 256 KiB state payload), and the last step gathers them into the
run's manifest (``archiver.archive.manifest``) or the restore's report (``archiver.restore.report``).
Both sides write the same kind of document, the same way: this module is what they share.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from archiver.core.errors import ChecksumMismatchError
from archiver.core.service_errors import naming_errors
from archiver.core.wire import StepError

_MAX_MESSAGE = 2000
# A streamed document stays in memory up to this size, then goes on to the function's /tmp.
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024


def document_json(document: Any) -> str:
    """The text of a document as the bucket holds it: indented JSON with sorted keys."""
    return json.dumps(document, indent=2, sort_keys=True, default=str)


def now() -> str:
    """When an outcome or a report is written: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def put_document(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    """Write ``document`` as indented JSON with sorted keys; S3 checks the body's SHA-256.

    S3 failing here is named like any busy service (``ServiceBusyError``) and retried by the state
    machine: the step runs again, finds its artifact already archived (or restored), and records then.
    """
    body = document_json(document).encode()
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", ChecksumAlgorithm="SHA256")


class StreamedDocument:
    """A JSON document too big to build in memory, written piece by piece, then put in one ``PutObject``.

    The text is the one ``put_document`` writes for the same document (``document_json``): the object
    ``{"a": [...], "b": ...}`` is written key by key in sorted order, an array key's elements one at a time
    (``array``), and the other keys whole (``value``). Its SHA-256 is computed while writing and sent with
    the upload, so S3 refuses a body that is not exactly what was written; until ``put``, nothing is in the
    bucket, and the upload is one request: the document is there whole or not at all.
    """

    def __init__(self) -> None:
        # Closed by __exit__: the document is written over many calls.
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self._sha256 = hashlib.sha256()
        self._keys: list[str] = []
        self.size = 0

    def __enter__(self) -> StreamedDocument:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def _write(self, text: str) -> None:
        data = text.encode()
        self._sha256.update(data)
        self._file.write(data)
        self.size += len(data)

    def _key(self, key: str) -> None:
        if self._keys and key <= self._keys[-1]:
            raise ValueError(f"keys must come in sorted order: {key!r} after {self._keys[-1]!r}")
        self._write(("{\n  " if not self._keys else ",\n  ") + json.dumps(key) + ": ")
        self._keys.append(key)

    def value(self, key: str, value: Any) -> None:
        """Write ``key`` and its whole value."""
        self._key(key)
        self._write(_indented(value, depth=1))

    def array(self, key: str, elements: Iterable[Any]) -> int:
        """Write ``key`` and an array of ``elements``, one at a time as they come; returns how many."""
        self._key(key)
        count = 0
        for element in elements:
            self._write(("[\n    " if not count else ",\n    ") + _indented(element, depth=2))
            count += 1
        self._write("\n  ]" if count else "[]")
        return count

    def append_array(self, key: str, part: ArrayPart) -> None:
        """Write ``key`` and the array collected in ``part`` (elements that come interleaved with another key's)."""
        self._key(key)
        part.file.seek(0)
        if not part.count:
            self._write("[]")
            return
        self._write("[\n    ")
        while chunk := part.file.read(1024 * 1024):
            self._sha256.update(chunk)
            self._file.write(chunk)
            self.size += len(chunk)
        self._write("\n  ]")

    def put(self, s3: Any, bucket: str, key: str) -> None:
        """Close the document and upload it to ``s3://bucket/key`` in one request, its SHA-256 checked by S3."""
        self._write("\n}" if self._keys else "{}")
        self._file.seek(0)
        checksum = base64.b64encode(self._sha256.digest()).decode()
        with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
            stored = s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=self._file,
                ContentLength=self.size,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        # S3 checks the body against the checksum sent; what it answers it recorded is checked here too.
        if stored.get("ChecksumSHA256") != checksum:
            raise ChecksumMismatchError(
                f"s3://{bucket}/{key}: S3 recorded SHA-256 {stored.get('ChecksumSHA256')} for the document, "
                f"expected {checksum}"
            )


class ArrayPart:
    """The elements of one array of a ``StreamedDocument``, spooled apart until the document reaches its key."""

    def __init__(self) -> None:
        # Closed by __exit__, as the document's.
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115
        self.count = 0

    def __enter__(self) -> ArrayPart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def add(self, element: Any) -> None:
        self.file.write(((",\n    " if self.count else "") + _indented(element, depth=2)).encode())
        self.count += 1


def _indented(value: Any, *, depth: int) -> str:
    """``value``'s ``document_json`` text as it reads ``depth`` levels into a document (newlines only separate)."""
    return document_json(value).replace("\n", "\n" + "  " * depth)


def get_document(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON document at ``key``, or ``None`` when there is none."""
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
    document: dict[str, Any] = json.loads(body)
    return document


def error_record(error: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An outcome's ``error``: its type (the state's Error), a message of bounded length, the service's details."""
    return {"type": error, "message": message[:_MAX_MESSAGE], "details": details or []}


def describe_step_error(error: StepError | None) -> tuple[str, str]:
    """The error type and message of a caught step failure (a ``Catch`` block's ``{Error, Cause}``).

    A Lambda failure's cause is the runtime's JSON error report; only its message is kept:
    stack traces belong in the function's logs, not in the manifest.
    """
    error = error or StepError()
    cause = error.Cause or ""
    try:
        report = json.loads(cause)
    except (TypeError, ValueError):
        return error.Error, cause
    if isinstance(report, dict) and "errorMessage" in report:
        return str(report.get("errorType", error.Error)), str(report["errorMessage"])
    return error.Error, cause


def no_outcome_recorded(step_error: StepError | None, *, item: str = "the item") -> dict[str, Any]:
    """The ``error`` of a planned ``item`` whose step ended without recording an outcome.

    ``step_error`` says why, when known (the Catch of a branch that died as a whole).
    """
    error_type, message = describe_step_error(step_error)
    return error_record(
        "NoOutcomeRecorded", f"the step of {item} ended without recording an outcome ({error_type}: {message})"
    )
