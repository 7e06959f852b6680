"""Exceptions raised by the archiver's steps.

The class names are part of the state machine's contract: Step Functions reports a
handler's exception class name as the state's ``Error``, and the workflow's ``Retry`` and
``Catch`` rules match on these names. Rename one only together with the workflow.

Every service error is one of three kinds, and the name says which:

- transient (``ServiceBusyError``, ``ExportSlotsBusyError``, ``RetryAfter…sError``,
  ``DownloadFailedError``): the state machine retries the step, bounded;
- the item's own problem (``ResourceNotFoundError``, ``RequestRejectedError``,
  ``ResourceConflictError``, …): the item fails at once, naming the resource, and the run goes on;
- the deployment's problem (``CredentialsRejectedError``, ``PermissionDeniedError``,
  ``UnsupportedEditionError``, ``QuotaExceededError``): no retry can help; the item fails with
  what the operator must fix.
"""

from __future__ import annotations

import math


class ArchiverError(Exception):
    """Base class of every error the archiver raises on purpose."""


class ConfigurationError(ArchiverError):
    """A function's environment is missing a setting or holds an invalid one."""


class InvalidRunInputError(ArchiverError):
    """The run's input document does not match the published schema."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid run input: " + "; ".join(problems))


# -- transient: retried by the state machine ---------------------------------------------------


class ServiceBusyError(ArchiverError):
    """The service throttled us, hit a limit or failed on its side (429, 500, LimitExceeded).

    Retried by the state machine with exponential back-off and full jitter.
    """


class ExportSlotsBusyError(ServiceBusyError):
    """QuickSight already runs its five export jobs for the account (shared with other runs).

    Retried on a slower schedule than throttling: a slot frees when some export finishes.
    """


# The service's own Retry-After is honoured by rounding it up to one of these waits: Step
# Functions' Retry cannot read a wait from an error, so each wait is a retrier of its own,
# matched by the error's name (see infra/core/steps.py). A longer Retry-After than the
# last one fails the item rather than come back earlier than the service asked.
RETRY_AFTER_WAITS = (5, 15, 30, 60, 120, 300, 900)


def retry_after_error_name(seconds: int) -> str:
    """The error name that makes the state machine wait ``seconds`` (one of RETRY_AFTER_WAITS)."""
    return f"RetryAfter{seconds}sError"


class RetryAfterError(ServiceBusyError):
    """A busy service said when to come back; subclasses name the wait (``RetryAfter30sError``)."""

    wait_seconds = 0


RETRY_AFTER_ERRORS: dict[int, type[RetryAfterError]] = {
    seconds: type(retry_after_error_name(seconds), (RetryAfterError,), {"wait_seconds": seconds})
    for seconds in RETRY_AFTER_WAITS
}


class RetryAfterTooLongError(ArchiverError):
    """The service asked to come back later than a step ever waits: the item fails, saying so."""


def busy(message: str, *, retry_after: float | None) -> ArchiverError:
    """The error for a busy service: one that waits at least ``retry_after`` seconds, if it was given."""
    if retry_after is None:
        return ServiceBusyError(message)
    wait = next((seconds for seconds in RETRY_AFTER_WAITS if seconds >= math.ceil(retry_after)), None)
    if wait is None:
        return RetryAfterTooLongError(
            f"{message}; the service asked to retry after {retry_after:g} s, longer than a run waits "
            f"({RETRY_AFTER_WAITS[-1]} s): archive this item in a later run"
        )
    return RETRY_AFTER_ERRORS[wait](f"{message}; retrying after {wait} s (the service asked for {retry_after:g} s)")


class DownloadFailedError(ArchiverError):
    """The download could not be completed (truncated body, 5xx, timeouts)."""


# -- the item's own problem: fails at once --------------------------------------------------------


class DisallowedLinkError(ArchiverError):
    """A download link is not https on a trusted host, so it is never fetched."""


class LinkExpiredError(ArchiverError):
    """The download host refused a link as expired even after fetching fresh ones."""


class ChecksumMismatchError(ArchiverError):
    """The bytes stored do not match the digest computed while streaming them."""


class ArchiveConflictError(ArchiverError):
    """A different object already exists at an archive key; archives are never overwritten."""


class BundleExportTimedOutError(ArchiverError):
    """A QuickSight export job did not finish before the run's polling deadline."""


class BundleExportNotReadyError(ArchiverError):
    """A QuickSight export job was asked for its bundle before it succeeded."""


class ResourceNotFoundError(ArchiverError):
    """The service has no such resource (404)."""


class RequestRejectedError(ArchiverError):
    """The service refused the request as invalid (400 ValidationException, InvalidParameterValue)."""


class ResourceConflictError(ArchiverError):
    """The resource is in a state that conflicts with the request (409), other than our own running job."""


# -- the deployment's problem: the operator must fix something -----------------------------------


class CredentialsRejectedError(ArchiverError):
    """The service did not accept the caller's credentials (401)."""


class PermissionDeniedError(ArchiverError):
    """The caller's role lacks a permission (403)."""


class UnsupportedEditionError(ArchiverError):
    """QuickSight's edition does not offer the operation (asset bundles need Enterprise edition)."""


class QuotaExceededError(ArchiverError):
    """A service quota is used up (402)."""


class QAppsIdentityError(ArchiverError):
    """The archive user's identity could not be turned into Q Apps credentials (token, secret or role)."""


class InvalidRestoreInputError(ArchiverError):
    """The restore's input document is invalid, or names archived objects that cannot be restored."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid restore input: " + "; ".join(problems))


class UploadInterruptedError(ArchiverError):
    """A file upload to Q Apps did not complete (network error, 5xx): retrying it starts clean."""


class UploadRejectedError(ArchiverError):
    """The upload host refused a Q Apps file (4xx): a retry with the same request would fail again."""


class BundleImportTimedOutError(ArchiverError):
    """A QuickSight import job did not finish before the restore's polling deadline."""
