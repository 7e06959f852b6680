"""What a restore carries and keeps, as models: its request, its plan, each step's event and result, its report.

The plan is what ValidateRestore returns once the restore input document (``schema/restore-input.schema.json``,
the contract) has passed every check of ``archiver.restore.request`` and ``archiver.restore.plan``; the item
steps get one planned bundle or file each (the Maps' ItemSelector in ``infra/restore/workflow.py``) and write
a ``RestoreOutcome`` to the bucket, which WriteRestoreReport gathers into the ``RestoreReport``. The request
itself is modelled too (``RestoreInput``), so that a test can hold the model and the published schema to the
same documents, and the plan's defaults come from it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, model_validator

from archiver.core.job_polls import JobPoll
from archiver.core.wire import ErrorRecord, Execution, SparseWireModel, StepError, WireModel

RestoreMode = Literal["restore", "drill", "validate"]
ImportSource = Literal["auto", "inline", "s3Uri"]
FailureAction = Literal["ROLLBACK", "DO_NOTHING"]
FileScope = Literal["APPLICATION", "SESSION"]
RestoreKind = Literal["bundle", "file"]

# The restore input document, field for field as the published schema has it (tests/unit/restore/test_models.py
# holds the two to the same documents); the schema's patterns and bounds stay the schema's, checked first with
# every problem named, and so do the combinations of fields (archiver.restore.request).


class ArchivedReference(SparseWireModel):
    """A ``from``: ``{manifest, itemId}`` or ``{key}`` (which of the two is the request checks' to say)."""

    manifest: str | None = None
    item_id: str | None = None
    key: str | None = None


# "from" on the wire, a Python keyword: ``archived`` in Python, also as the constructor's keyword.
From = Annotated[
    ArchivedReference, Field(validation_alias=AliasChoices("from", "archived"), serialization_alias="from")
]


class DrillRequest(WireModel):
    resource_prefix: str | None = None
    session_id: str | None = None


class BundleRestoreRequest(WireModel):
    archived: From
    import_source: ImportSource = "auto"
    failure_action: FailureAction = "ROLLBACK"
    override_parameters: dict[str, Any] = {}


class QuickSightRestoreRequest(WireModel):
    aws_account_id: str | None = None
    bundles: Annotated[list[BundleRestoreRequest], Field(min_length=1, max_length=50)]


class FileRestoreRequest(WireModel):
    archived: From
    app_id: str
    card_id: str
    file_name: Annotated[str, Field(min_length=1, max_length=100)]
    scope: FileScope = "APPLICATION"
    session_id: str | None = None


class QAppsRestoreRequest(WireModel):
    instance_id: str
    files: Annotated[list[FileRestoreRequest], Field(min_length=1, max_length=100)]


class RestoreInput(WireModel):
    mode: RestoreMode = "restore"
    drill: DrillRequest | None = None
    quicksight: QuickSightRestoreRequest | None = None
    qapps: QAppsRestoreRequest | None = None

    @model_validator(mode="after")
    def _a_section(self) -> RestoreInput:
        # The schema's anyOf: either section may be absent, not both.
        if "quicksight" not in self.model_fields_set and "qapps" not in self.model_fields_set:
            raise ValueError("expected a 'quicksight' and/or a 'qapps' section")
        return self


# The plan.


class RestoreContext(WireModel):
    """Who this restore is: the Step Functions execution that carries it."""

    # "id" on the wire; restore_id in Python, also as the constructor's keyword.
    restore_id: str = Field(validation_alias=AliasChoices("id", "restore_id"), serialization_alias="id")
    execution_id: str
    started_at: str

    @classmethod
    def of(cls, execution: Execution) -> RestoreContext:
        return cls(restore_id=execution.name, execution_id=execution.id, started_at=execution.start_time)


class PlannedRestore(RestoreContext):
    """The restore as its plan, every item step and the report carry it: who, and in which mode."""

    mode: RestoreMode


class Drill(SparseWireModel):
    """A drill's settings, its prefix defaulted (``sessionId`` only when the request gives one)."""

    resource_prefix: str
    session_id: str | None = None


class ArchivedObject(WireModel):
    """One object of the archive, pinned to its version: a planned item's ``source``."""

    key: str
    size: int
    version_id: str | None
    sha256: str | None
    """Hex SHA-256 recorded when it was archived (manifest or ``sha256`` tag), if any."""
    run_id: str | None = None
    item_id: str | None = None
    export_format: str | None = None


class PlannedBundleRestore(SparseWireModel):
    """A bundle to import: its defaults filled in, then (once the archive is read) its source and resources."""

    item_id: str
    archived: From
    import_source: ImportSource
    failure_action: FailureAction
    override_parameters: dict[str, Any]
    job_id: str
    source: ArchivedObject | None = None
    resources: list[str] | None = None


class PlannedFile(SparseWireModel):
    """A file to upload to a card: its target (a drill's session in drill mode), then its source."""

    item_id: str
    archived: From
    app_id: str
    card_id: str
    file_name: str
    scope: FileScope
    session_id: str | None = None
    source: ArchivedObject | None = None


PlannedRestoreItem = PlannedBundleRestore | PlannedFile


class QuickSightRestorePlan(WireModel):
    aws_account_id: str | None
    bundles: list[PlannedBundleRestore]


class QAppsRestorePlan(WireModel):
    instance_id: str | None
    files: list[PlannedFile]


class RestorePlan(WireModel):
    """What ValidateRestore returns and every later state carries: the restore and its items."""

    restore: PlannedRestore
    drill: Drill | None
    quicksight: QuickSightRestorePlan
    qapps: QAppsRestorePlan
    # Added by RestoreItems' Catch when a whole branch died; only read, never part of ValidateRestore's result.
    restore_error: StepError | None = Field(default=None, exclude=True)


# Each step's event (the state's Parameters) and result (what its ResultPath keeps).


class BundleRestoreEvent(WireModel):
    restore: PlannedRestore
    aws_account_id: str
    bundle: PlannedBundleRestore


class ImportPoll(JobPoll):
    """An import job's polling state, carried between StartBundleImport, the Wait and CheckBundleImport."""

    # True once the job has ended and check_bundle_import has recorded the item's outcome.
    settled: bool


class BundleImportEvent(BundleRestoreEvent):
    job: ImportPoll = Field(alias="import")


class FileRestoreEvent(WireModel):
    restore: PlannedRestore
    instance_id: str
    file: PlannedFile


class FileRestored(WireModel):
    """What RestoreQAppFile returns (discarded by the state machine)."""

    item_id: str
    file_id: str
    size: int


class RestoreFailureEvent(WireModel):
    restore: PlannedRestore
    kind: RestoreKind
    item: PlannedBundleRestore | PlannedFile
    error: StepError


class WriteRestoreReportEvent(WireModel):
    plan: RestorePlan


# The documents in the bucket: each item's outcome, and the restore's report gathered from them.


class RestoreTarget(SparseWireModel):
    """Where an item went: a file's card and scope, a bundle's import options and job (the keys the plan gave)."""

    app_id: str | None = None
    card_id: str | None = None
    file_name: str | None = None
    scope: FileScope | None = None
    session_id: str | None = None
    import_source: ImportSource | None = None
    failure_action: FailureAction | None = None
    job_id: str | None = None


class BundleImported(WireModel):
    job_arn: str
    resources: list[str]
    resource_id_prefix: str | None
    warnings: list[dict[str, Any]]


class FileUploaded(WireModel):
    file_id: str
    size: int
    sha256: str


class Checked(SparseWireModel):
    """What validate mode reports of an item: a bundle's resources (a file's checks have nothing to list)."""

    resources: list[str] | None = None


class _RestoreOutcome(WireModel):
    item_id: str
    kind: RestoreKind
    source: ArchivedObject | None
    target: RestoreTarget


class RestoredOutcome(_RestoreOutcome):
    status: Literal["restored"] = "restored"
    result: BundleImported | FileUploaded
    at: str


class ValidatedOutcome(_RestoreOutcome):
    status: Literal["validated"] = "validated"
    result: Checked


class FailedRestoreOutcome(_RestoreOutcome, SparseWireModel):
    status: Literal["failed"] = "failed"
    error: ErrorRecord
    # An item whose step never recorded an outcome has no time of its own: the key is then left out.
    at: str | None = None


RestoreOutcome = Annotated[RestoredOutcome | ValidatedOutcome | FailedRestoreOutcome, Field(discriminator="status")]


class RestoreSummary(WireModel):
    """The restore's summary: WriteRestoreReport's result, the execution's output, the report's ``summary``."""

    restore_id: str
    mode: RestoreMode
    items: int
    restored: int
    validated: int
    failed: int
    report_bucket: str
    report_key: str


class RestoreReport(WireModel):
    report_version: int
    restore: PlannedRestore
    drill: Drill | None
    summary: RestoreSummary
    items: list[RestoreOutcome]
    written_at: str
