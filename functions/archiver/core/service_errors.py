"""What QuickSight, Q Apps and S3 answer, turned into the archiver's named errors.

The state machine decides on retries by error name (``Retry``/``Catch``), so every service
error a step can meet leaves the step under a name that says what to do about it (see
``archiver.core.errors``), and a message that names the resource and, when no retry can help,
what the operator must fix.

botocore's own retries are no substitute: they ignore ``Retry-After`` and wait inside a
running (billed) Lambda; the state machine waits for free and for as long as the service asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from archiver.core.errors import (
    ArchiverError,
    CredentialsRejectedError,
    ExportSlotsBusyError,
    PermissionDeniedError,
    QuotaExceededError,
    RequestRejectedError,
    ResourceConflictError,
    ResourceNotFoundError,
    UnsupportedEditionError,
    busy,
)

# Error codes, as the services' models (and S3's documentation) name them.
BUSY_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "InternalServerException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "SlowDown",
        "RequestTimeout",
        "LimitExceededException",
    }
)
# S3's answers for an object (or a version of it) that is not there: a HEAD has no body, so its
# code is the bare status ("404", or "NotFound" in some clients).
MISSING_OBJECT_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchVersion"})
NOT_FOUND_CODES = MISSING_OBJECT_CODES | {"ResourceNotFoundException", "NoSuchBucket", "NotFoundException"}
REJECTED_CODES = frozenset({"ValidationException", "InvalidParameterValueException", "InvalidRequestException"})
_IAM_PREFIX = {"QuickSight": "quicksight", "Q Apps": "qapps", "S3": "s3"}


def object_missing(error: Exception) -> bool:
    """Whether S3 answered that the object (or the version asked for) is not there."""
    response: dict[str, Any] = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") in MISSING_OBJECT_CODES


@dataclass(frozen=True)
class _Answer:
    """One error answer, as the named errors' messages describe it."""

    error: ClientError
    service: str
    resource: str
    code: str
    operation: str
    what: str


def _retry_after(error: ClientError) -> float | None:
    """The wait the service asked for: Q Apps' modeled ``retryAfterSeconds``, or a ``Retry-After`` header."""
    response: dict[str, Any] = error.response
    value = response.get("retryAfterSeconds")
    if value is None:
        value = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date Retry-After: no service here sends one; back off as usual


def _busy(answer: _Answer) -> ArchiverError:
    if answer.code == "LimitExceededException" and answer.operation == "StartAssetBundleExportJob":
        return ExportSlotsBusyError(
            f"{answer.what}: the account's five export jobs are all running; waiting for a slot"
        )
    return busy(answer.what, retry_after=_retry_after(answer.error))


def _not_found(answer: _Answer) -> ArchiverError:
    return ResourceNotFoundError(f"{answer.what}: check that it exists in the account, region and instance named")


def _credentials_rejected(answer: _Answer) -> ArchiverError:
    identity = (
        " (Q Apps needs a user identity through IAM Identity Center trusted identity propagation, "
        "not plain role credentials)"
        if answer.service == "Q Apps"
        else ""
    )
    return CredentialsRejectedError(
        f"{answer.what}. Fix the credentials: {answer.service} did not accept them{identity}"
    )


def _unsupported_edition(answer: _Answer) -> ArchiverError:
    return UnsupportedEditionError(
        f"{answer.what}. Fix the edition: asset bundle exports need QuickSight Enterprise edition in this account"
    )


def _quota_exceeded(answer: _Answer) -> ArchiverError:
    response: dict[str, Any] = answer.error.response
    quota = response.get("quotaCode") or "the quota named above"
    return QuotaExceededError(
        f"{answer.what}. Fix the quota: raise {quota} of {response.get('serviceCode') or answer.service} "
        "in Service Quotas, or archive fewer items per run"
    )


def _permission_denied(answer: _Answer) -> ArchiverError:
    action = f"{_IAM_PREFIX.get(answer.service, answer.service.lower())}:{answer.operation}"
    return PermissionDeniedError(
        f"{answer.what}. Fix the permissions: allow {action} on {answer.resource} to the archiver's role"
    )


def _conflict(answer: _Answer) -> ArchiverError:
    return ResourceConflictError(f"{answer.what}: the resource is in use or changed; archive it in a later run")


def _rejected(answer: _Answer) -> ArchiverError:
    return RequestRejectedError(f"{answer.what}: the request was refused as invalid")


_Named = Callable[[_Answer], ArchiverError]

# The code says what went wrong; the HTTP status only when the code is one no model here lists.
# The two disagree in places: QuickSight answers AccessDeniedException (a missing IAM permission)
# with 401, the status Q Apps uses for UnauthorizedException (credentials it does not accept), and
# LimitExceededException (busy export slots) with 409, the status of a conflict.
_BY_CODE: dict[str, _Named] = {
    **dict.fromkeys(BUSY_CODES, _busy),
    **dict.fromkeys(NOT_FOUND_CODES, _not_found),
    "UnauthorizedException": _credentials_rejected,
    "UnsupportedUserEditionException": _unsupported_edition,
    "ServiceQuotaExceededException": _quota_exceeded,
    "AccessDeniedException": _permission_denied,
    "AccessDenied": _permission_denied,
    "ConflictException": _conflict,
    **dict.fromkeys(REJECTED_CODES, _rejected),
}
_BY_STATUS: dict[int, _Named] = {
    429: _busy,
    404: _not_found,
    401: _credentials_rejected,
    402: _quota_exceeded,
    403: _permission_denied,
    409: _conflict,
}


def _by_status(status: int) -> _Named:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return _rejected
    # 5xx, or no status at all: the service failed on its side, and may not a moment later.
    return _busy


def service_error(error: ClientError, *, service: str, resource: str) -> ArchiverError:
    """The named error for what ``service`` answered about ``resource``: by its code, else by its status."""
    response: dict[str, Any] = error.response
    code = str(response.get("Error", {}).get("Code", "Unknown"))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    said = f"{code}: {response.get('Error', {}).get('Message') or response.get('message') or 'no message'}"
    answer = _Answer(
        error=error,
        service=service,
        resource=resource,
        code=code,
        operation=error.operation_name,
        what=f"{service} {error.operation_name} for {resource} failed ({said})",
    )
    return _BY_CODE.get(code, _by_status(status))(answer)


@contextmanager
def naming_errors(service: str, *, resource: str) -> Iterator[None]:
    """Translate whatever a call to ``service`` about ``resource`` raises into a named error."""
    try:
        yield
    except ClientError as error:
        raise service_error(error, service=service, resource=resource) from error
    except (ConnectionError, HTTPClientError) as error:
        # Connection refused or reset, or a timeout: the service may be fine a moment later.
        raise busy(
            f"{service} could not be reached about {resource} ({type(error).__name__})", retry_after=None
        ) from error
