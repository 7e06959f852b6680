"""What QuickSight, Q Apps and S3 answer, turned into the archiver's named errors.

The state machine decides on retries by error name (``Retry``/``Catch``), so every service
error a step can meet leaves the step under a name that says what to do about it (see
``archiver.errors``), and a message that names the resource and, when no retry can help,
what the operator must fix.

botocore's own retries are no substitute: they ignore ``Retry-After`` and wait inside a
running (billed) Lambda; the state machine waits for free and for as long as the service asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from archiver.errors import (
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
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFoundException"})
REJECTED_CODES = frozenset({"ValidationException", "InvalidParameterValueException", "InvalidRequestException"})
_IAM_PREFIX = {"QuickSight": "quicksight", "Q Apps": "qapps", "S3": "s3"}


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


def service_error(error: ClientError, *, service: str, resource: str) -> ArchiverError:
    """The named error for what ``service`` answered about ``resource``."""
    response: dict[str, Any] = error.response
    code = str(response.get("Error", {}).get("Code", "Unknown"))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    operation = error.operation_name
    said = f"{code}: {response.get('Error', {}).get('Message') or response.get('message') or 'no message'}"
    what = f"{service} {operation} for {resource} failed ({said})"
    if code == "LimitExceededException" and operation == "StartAssetBundleExportJob":
        return ExportSlotsBusyError(f"{what}: the account's five export jobs are all running; waiting for a slot")
    if code in BUSY_CODES or status >= 500 or status == 429:
        return busy(what, retry_after=_retry_after(error))
    if code in NOT_FOUND_CODES or status == 404:
        return ResourceNotFoundError(f"{what}: check that it exists in the account, region and instance named")
    if code == "UnauthorizedException" or status == 401:
        return CredentialsRejectedError(
            f"{what}. Fix the credentials: {service} did not accept them"
            + (
                " (Q Apps needs a user identity through IAM Identity Center trusted identity propagation, "
                "not plain role credentials)"
                if service == "Q Apps"
                else ""
            )
        )
    if code == "UnsupportedUserEditionException":
        return UnsupportedEditionError(
            f"{what}. Fix the edition: asset bundle exports need QuickSight Enterprise edition in this account"
        )
    if code == "ServiceQuotaExceededException" or status == 402:
        quota = response.get("quotaCode") or "the quota named above"
        return QuotaExceededError(
            f"{what}. Fix the quota: raise {quota} of {response.get('serviceCode') or service} in Service Quotas, "
            "or archive fewer items per run"
        )
    if code in ("AccessDeniedException", "AccessDenied") or status == 403:
        action = f"{_IAM_PREFIX.get(service, service.lower())}:{operation}"
        return PermissionDeniedError(
            f"{what}. Fix the permissions: allow {action} on {resource} to the archiver's role"
        )
    if code == "ConflictException" or status == 409:
        return ResourceConflictError(f"{what}: the resource is in use or changed; archive it in a later run")
    if code in REJECTED_CODES or 400 <= status < 500:
        return RequestRejectedError(f"{what}: the request was refused as invalid")
    return busy(what, retry_after=None)


@contextmanager
def calling(service: str, *, resource: str) -> Iterator[None]:
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
