"""The archiver's metric names, dimensions and failure reasons: a contract with dashboards and alarms.

Shared by the functions (``observability``) and the CDK app (dashboard, alarms), so a renamed metric
cannot silently empty a graph. Renaming any of these is a breaking change for operators (README,
"Operations").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

NAMESPACE = "Archiver"
# Powertools adds a "service" dimension with this value to every metric.
SERVICE = "archiver"

# Dimensions
ITEM_KIND = "ItemKind"  # bundle | session | app (archive runs), bundle | file (restores)
REASON = "Reason"  # one of FAILURE_REASONS' values

# Metrics (all per item, dimensions service + ItemKind; ItemsFailed adds Reason)
ARTIFACTS_ARCHIVED = "ArtifactsArchived"  # Count: new artifacts written (a repeat of an archived one counts 0)
BYTES_ARCHIVED = "BytesArchived"  # Bytes written to the archive
LINK_REFRESHES = "LinkRefreshes"  # Count: fresh links fetched because a download link expired mid-copy
ITEMS_FAILED = "ItemsFailed"  # Count: items the run gave up on
# Seconds from an export being ready (QuickSight: first SUCCESSFUL poll; Q Apps: the export call) to archived.
EXPORT_READY_TO_ARCHIVED = "ExportReadyToArchived"

ITEM_KINDS = ("bundle", "session", "app", "file")  # a restore's items are bundles and files

# What an operator does about a failure depends on its cause, not on the exception's class: the step
# errors (Catch's Error: a handler's exception class or a service's error code) map to these reasons.
FAILURE_REASONS: Mapping[str, str] = {
    "BundleExportFailed": "ExportRejected",
    "BundleExportTimedOutError": "ExportTimedOut",
    "BundleExportNotReadyError": "ExportTimedOut",
    "AccessDeniedException": "AccessDenied",
    "AccessDenied": "AccessDenied",
    "UnauthorizedException": "AccessDenied",
    "UnsupportedUserEditionException": "AccessDenied",
    "ResourceNotFoundException": "NotFound",
    "NoSuchKey": "NotFound",
    "ThrottlingException": "Throttled",
    "LimitExceededException": "Throttled",
    "ServiceQuotaExceededException": "Throttled",
    "InternalServerException": "ServiceError",
    "DisallowedLinkError": "LinkRefused",
    "LinkExpiredError": "DownloadFailed",
    "DownloadFailedError": "DownloadFailed",
    "ChecksumMismatchError": "DownloadFailed",
    "ArchiveConflictError": "ArchiveConflict",
    "InvalidParameterValueException": "InvalidPlan",
    "ValidationException": "InvalidPlan",
    # The archiver's own names for the services' errors (archiver.core.service_errors, archiver.core.errors)
    "ServiceBusyError": "ServiceError",
    "ExportSlotsBusyError": "Throttled",
    "RetryAfterTooLongError": "Throttled",
    "QuotaExceededError": "Throttled",
    "ResourceNotFoundError": "NotFound",
    "RequestRejectedError": "InvalidPlan",
    "ResourceConflictError": "Conflict",
    "CredentialsRejectedError": "AccessDenied",
    "PermissionDeniedError": "AccessDenied",
    "UnsupportedEditionError": "AccessDenied",
    "QAppsIdentityError": "AccessDenied",
    # Restores
    "BundleImportFailed": "ImportRejected",
    "BundleImportTimedOutError": "ImportTimedOut",
    "UploadRejectedError": "UploadFailed",
    "UploadInterruptedError": "UploadFailed",
}
# A busy service that named its wait: RetryAfter{seconds}sError (archiver.core.errors.retry_after_error_name).
_RETRY_AFTER = re.compile(r"RetryAfter\d+sError")
OTHER_REASON = "Other"
REASONS = (*sorted(set(FAILURE_REASONS.values())), OTHER_REASON)


def failure_reason(error: str) -> str:
    """The operator-facing reason for a step error name; ``Other`` for anything unforeseen."""
    if _RETRY_AFTER.fullmatch(error):
        return "Throttled"
    return FAILURE_REASONS.get(error, OTHER_REASON)
