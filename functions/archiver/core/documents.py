"""The JSON documents a run or a restore keeps in the bucket: read, written, stamped, and their error records.

Item steps write their outcome to the bucket instead of returning it through the state machine
(a run's outcomes can outgrow the 256 KiB state payload), and the last step gathers them into the
run's manifest (``archiver.archive.manifest``) or the restore's report (``archiver.restore.report``).
Both sides write the same kind of document, the same way: this module is what they share.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from archiver.core.service_errors import naming_errors
from archiver.core.wire import StepError

_MAX_MESSAGE = 2000


def now() -> str:
    """When an outcome or a report is written: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def put_document(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    """Write ``document`` as indented JSON with sorted keys; S3 checks the body's SHA-256.

    S3 failing here is named like any busy service (``ServiceBusyError``) and retried by the state
    machine: the step runs again, finds its artifact already archived (or restored), and records then.
    """
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", ChecksumAlgorithm="SHA256")


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
