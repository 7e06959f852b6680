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


class QAppsIdentityError(ArchiverError):
    """The archive user's identity could not be turned into Q Apps credentials (token, secret or role)."""
