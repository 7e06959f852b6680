"""Exceptions raised by the archiver's steps.

The class names are part of the state machine's contract: Step Functions reports a
handler's exception class name as the state's ``Error``, and the workflow's ``Retry`` and
``Catch`` rules match on these names. Rename one only together with the workflow.
"""

from __future__ import annotations


class ArchiverError(Exception):
    """Base class of every error the archiver raises on purpose."""


class ConfigurationError(ArchiverError):
    """A function's environment is missing a setting or holds an invalid one."""


class InvalidRunInputError(ArchiverError):
    """The run's input document does not match the published schema."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid run input: " + "; ".join(problems))


class DisallowedLinkError(ArchiverError):
    """A download link is not https on a trusted host, so it is never fetched."""


class LinkExpiredError(ArchiverError):
    """The download host refused a link as expired even after fetching fresh ones."""


class DownloadFailedError(ArchiverError):
    """The download could not be completed (truncated body, 5xx, timeouts)."""


class ChecksumMismatchError(ArchiverError):
    """The bytes stored do not match the digest computed while streaming them."""


class ArchiveConflictError(ArchiverError):
    """A different object already exists at an archive key; archives are never overwritten."""


class BundleExportTimedOutError(ArchiverError):
    """A QuickSight export job did not finish before the run's polling deadline."""


class BundleExportNotReadyError(ArchiverError):
    """A QuickSight export job was asked for its bundle before it succeeded."""


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
