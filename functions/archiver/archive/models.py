"""What an archive run carries and keeps, as models: its plan, each step's event and result, its documents.

The plan is what ValidateRun returns once the run input document (``schema/run-input.schema.json``,
the contract) has passed every check of ``archiver.archive.run_input``; the item steps get one planned
item each (the Map's ItemSelector in ``infra/archive/workflow.py``), and write an ``ItemOutcome`` to
the bucket, which WriteManifest gathers into the ``Manifest``. The run input itself is modelled too
(``RunInput``), so that a test can hold the model and the published schema to the same documents.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, ConfigDict, Field, ValidationInfo, computed_field, model_validator

from archiver.catalogue.models import CatalogueEntry, Fingerprint
from archiver.core.job_polls import JobPoll
from archiver.core.wire import ErrorRecord, Execution, SparseWireModel, StepError, WireModel

ExportFormat = Literal["QUICKSIGHT_JSON", "CLOUDFORMATION_JSON"]
ItemKind = Literal["bundle", "session", "app"]
# What a manifest's failure may be: an item, or a part of discovery (a List call that could not list).
FailureKind = Literal["bundle", "session", "app", "discovery"]
# The QuickSight asset types discovery lists (as their ARNs name them), and those it lists unless told.
AssetType = Literal["dashboard", "analysis", "dataset", "datasource", "theme", "folder"]
DEFAULT_DISCOVERED_TYPES: tuple[AssetType, ...] = ("dashboard", "analysis", "dataset", "datasource", "theme")

# The run input document, field for field as the published schema has it (tests/unit/archive/test_models.py
# holds the two to the same documents); the schema's patterns and bounds stay the schema's, checked first
# with every problem named (archiver.archive.run_input).


class AssetFingerprint(WireModel):
    """What says whether a discovered QuickSight asset changed: its ARN, type and change markers, as listed.

    Discovery fills these for the bundles it plans; a bundle given by hand may carry them (a change-driven
    run, an inventory of one's own); without them ``onlyChanged`` compares the exported bytes with the last
    archived copy's instead.
    """

    arn: str
    type: str
    last_updated_time: str | None = None
    # A dashboard's PublishedVersionNumber, a theme's LatestVersionNumber; None where the API has no version.
    version: int | None = None

    def fingerprint(self) -> Fingerprint:
        """The change markers alone, as the catalogue keeps them."""
        return Fingerprint(last_updated_time=self.last_updated_time, version=self.version)


class BundleRequest(WireModel):
    name: str | None = None
    resource_arns: Annotated[list[str], Field(min_length=1, max_length=100)]
    export_format: ExportFormat = "QUICKSIGHT_JSON"
    include_all_dependencies: bool = True
    include_permissions: bool = False
    include_tags: bool = False
    strict_validation: bool = True
    assets: Annotated[list[AssetFingerprint], Field(max_length=100)] = []


class AssetFilter(WireModel):
    """Which discovered assets a ``discover`` includes or excludes: id and name globs, tags (value globs)."""

    ids: Annotated[list[str], Field(max_length=100)] = []
    names: Annotated[list[str], Field(max_length=100)] = []
    tags: Annotated[dict[str, str], Field(max_length=50)] = {}


class DiscoverRequest(WireModel):
    """``quicksight.discover``: the types to list, the filters, and the options of the bundles it plans."""

    types: Annotated[list[AssetType], Field(min_length=1)] = list(DEFAULT_DISCOVERED_TYPES)
    include: AssetFilter = AssetFilter()
    exclude: AssetFilter = AssetFilter()
    export_format: ExportFormat = "QUICKSIGHT_JSON"
    include_permissions: bool = False
    include_tags: bool = False
    strict_validation: bool = True


class QuickSightRequest(WireModel):
    aws_account_id: str | None = None
    bundles: Annotated[list[BundleRequest], Field(max_length=2000)] = []
    discover: DiscoverRequest | None = None

    @model_validator(mode="after")
    def _something_to_archive(self) -> QuickSightRequest:
        # The schema's anyOf: bundles, non-empty, or discover (or both).
        if not (self.bundles or self.discover is not None):
            raise ValueError("expected at least one of 'bundles' (non-empty) or 'discover'")
        return self


class SessionRequest(WireModel):
    app_id: str
    session_id: str


class QAppsRequest(WireModel):
    instance_id: str
    sessions: Annotated[list[SessionRequest], Field(max_length=10_000)] = []
    sessions_uri: str | None = None
    apps: Annotated[list[str], Field(max_length=10_000)] = []
    apps_uri: str | None = None
    discover_apps: bool = False

    @model_validator(mode="after")
    def _something_to_archive(self) -> QAppsRequest:
        # The schema's anyOf: at least one of sessions or apps, non-empty, either by reference, or discoverApps.
        if not (
            self.sessions
            or self.apps
            or self.discover_apps
            or "sessions_uri" in self.model_fields_set
            or "apps_uri" in self.model_fields_set
        ):
            raise ValueError(
                "expected at least one of 'sessions' or 'apps', non-empty, or 'sessionsUri', 'appsUri' "
                "or 'discoverApps': true"
            )
        # Its dependentSchemas: a list is given inline or by reference, not both.
        for listed, reference in (("sessions", "sessions_uri"), ("apps", "apps_uri")):
            if {listed, reference} <= self.model_fields_set:
                raise ValueError(f"expected {listed!r} inline or by reference, not both")
        return self


class RunInput(WireModel):
    plan_uri: str | None = None
    quicksight: QuickSightRequest | None = None
    qapps: QAppsRequest | None = None
    only_changed: bool = True

    @model_validator(mode="after")
    def _a_section(self) -> RunInput:
        # The schema's anyOf: either section may be absent, not both; or the whole document by reference,
        # alone (its dependentSchemas).
        sections = {"quicksight", "qapps"} & self.model_fields_set
        if "plan_uri" in self.model_fields_set:
            if sections:
                raise ValueError("expected 'planUri' alone: the object it names is the whole document")
        elif not sections:
            raise ValueError("expected a 'quicksight' and/or a 'qapps' section, or a 'planUri'")
        return self


# The plan.


class RunContext(WireModel):
    """Who this run is: the Step Functions execution that carries it."""

    # The run's date is derived, so a plan read back may carry it: it is recomputed, never trusted.
    model_config = ConfigDict(extra="ignore")

    # "id" on the wire; run_id in Python, also as the constructor's keyword.
    run_id: str = Field(validation_alias=AliasChoices("id", "run_id"), serialization_alias="id")
    execution_id: str
    started_at: str
    # The run input's onlyChanged: an item whose last archived copy still holds it is not archived again.
    only_changed: bool = True

    @computed_field(alias="date")  # type: ignore[prop-decorator]
    @property
    def run_date(self) -> str:
        return self.started_at[:10]

    @classmethod
    def of(cls, execution: Execution) -> RunContext:
        return cls(run_id=execution.name, execution_id=execution.id, started_at=execution.start_time)


class PlannedBundle(WireModel):
    item_id: str
    name: str
    job_id: str
    resource_arns: list[str]
    export_format: ExportFormat
    include_all_dependencies: bool
    include_permissions: bool
    include_tags: bool
    strict_validation: bool
    assets: list[AssetFingerprint] = []
    # What the bundle's assets need that other bundles hold (ARNs): restore those first. Discovery fills it.
    dependencies: list[str] = []


class PlannedSession(WireModel):
    item_id: str
    app_id: str
    session_id: str


class PlannedApp(WireModel):
    item_id: str
    app_id: str


PlannedItem = PlannedBundle | PlannedSession | PlannedApp


class QuickSightPlan(WireModel):
    aws_account_id: str | None
    bundles: list[PlannedBundle]
    # The asset types of which the plan's bundles hold every asset the account has (a discovery that listed
    # them all, unfiltered): the catalogue's other assets of these types are recorded as deletedUpstream.
    complete_types: list[str] = []
    discover: DiscoverRequest | None = None


class QAppsPlan(WireModel):
    instance_id: str | None
    sessions: list[PlannedSession]
    apps: list[PlannedApp]
    discover_apps: bool = False


class RunPlan(WireModel):
    """What ValidateRun returns and every later state carries: the run and its items."""

    run: RunContext
    quicksight: QuickSightPlan
    qapps: QAppsPlan
    # Added by ArchiveItems' Catch when a whole branch died; only read, never part of ValidateRun's result.
    run_error: StepError | None = Field(default=None, exclude=True)


class PlanFiles(WireModel):
    """Where ValidateRun wrote the plan's items, one JSON array per kind (``layout.plan_items_key``)."""

    bucket: str
    bundles: str
    sessions: str
    apps: str


class StagedQuickSight(WireModel):
    aws_account_id: str | None
    bundles: int
    # As QuickSightPlan's: WriteManifest reads it back to find what QuickSight no longer lists.
    complete_types: list[str] = []
    # What DiscoverAssets is to find; None when the input lists its bundles only.
    discover: DiscoverRequest | None = None


class StagedQApps(WireModel):
    instance_id: str | None
    sessions: int
    apps: int
    discover_apps: bool = False


class StagedRun(WireModel):
    """What ValidateRun returns and every later state of the parent carries: the run, counts, the item files.

    No item list: the Distributed Maps read the items from the files, so the parent's state stays a few
    hundred bytes whatever the plan's size.
    """

    run: RunContext
    quicksight: StagedQuickSight
    qapps: StagedQApps
    items: PlanFiles
    # Added by ArchiveItems' Catch when a whole branch died; only read, never part of ValidateRun's result.
    run_error: StepError | None = Field(default=None, exclude=True)
    # Added by DiscoverAssets' Catch when discovery died as a whole; only read, as run_error.
    discovery_error: StepError | None = Field(default=None, exclude=True)

    @property
    def discovers(self) -> bool:
        """Whether the run discovers anything (DiscoverAssets runs, and records what it found)."""
        return self.quicksight.discover is not None or self.qapps.discover_apps


# Each step's event (the state's Parameters) and result (what its ResultPath keeps).


class ExportPoll(JobPoll):
    """An export job's polling state, carried between StartBundleExport, the Wait and CheckBundleExport."""

    # When the export was first seen ready (epoch seconds): ExportReadyToArchived is measured from it.
    ready_at: float | None = None


class BundleEvent(WireModel):
    run: RunContext
    aws_account_id: str
    bundle: PlannedBundle


class BundleExportEvent(BundleEvent):
    export: ExportPoll


class SessionEvent(WireModel):
    run: RunContext
    instance_id: str
    session: PlannedSession


class AppEvent(WireModel):
    run: RunContext
    instance_id: str
    app: PlannedApp


class ArchiveStepResult(WireModel):
    """What an archive step returns to the state machine (discarded by it): where the artifact went."""

    key: str
    size: int


class ItemFailureEvent(WireModel):
    run: RunContext
    kind: ItemKind
    item: PlannedBundle | PlannedSession | PlannedApp
    error: StepError
    # Where the item lives: a bundle's branch carries its account, a Q Apps branch its instance.
    aws_account_id: str | None = None
    instance_id: str | None = None


class WriteManifestEvent(WireModel):
    plan: StagedRun


# The documents in the bucket: each item's outcome, and the run's manifest gathered from them.


# Where an item came from, one model per kind. An archived item's source is what the service answered
# (the export job, the session's ARN, the app's version), a failed one's what the plan knew of it (its job,
# instance and ids): each model reads both shapes, and writes back exactly the keys it was given.


class BundleSource(SparseWireModel):
    job_id: str | None = None
    job_arn: str
    resource_arns: list[str]
    export_format: ExportFormat | None = None
    # A discovered bundle's: what its assets need from other bundles (restore those first).
    dependencies: list[str] | None = None


class SessionSource(SparseWireModel):
    session_arn: str | None = None
    instance_id: str | None = None
    app_id: str
    session_id: str


class AppSource(SparseWireModel):
    app_arn: str | None = None
    app_version: int | None = None
    instance_id: str | None = None
    app_id: str | None = None


class DiscoverySource(SparseWireModel):
    """What a discovery failure could not list: a service's List call for one type, in an account or instance."""

    service: Literal["quicksight", "qapps"]
    listing: str
    aws_account_id: str | None = None
    instance_id: str | None = None


SOURCE_OF_KIND: dict[str, type[BundleSource | SessionSource | AppSource | DiscoverySource]] = {
    "bundle": BundleSource,
    "session": SessionSource,
    "app": AppSource,
    "discovery": DiscoverySource,
}


def _source_of_its_kind(value: Any, info: ValidationInfo) -> Any:
    # The JSON carries no tag of its own: the document's ``kind`` (validated first) says which model reads it.
    kind = info.data.get("kind")
    return SOURCE_OF_KIND[kind].model_validate(value) if kind in SOURCE_OF_KIND else value


ItemSource = Annotated[BundleSource | SessionSource | AppSource, BeforeValidator(_source_of_its_kind)]
# A manifest's failure may also be discovery's (a List call that could not list): no item has that source.
FailureSource = Annotated[
    BundleSource | SessionSource | AppSource | DiscoverySource, BeforeValidator(_source_of_its_kind)
]


class Artifact(WireModel):
    key: str
    size: int
    sha256: str
    s3_checksum: str | None
    s3_checksum_algorithm: str | None
    version_id: str | None
    already_archived: bool


class ArchivedOutcome(WireModel):
    item_id: str
    kind: ItemKind
    status: Literal["archived"] = "archived"
    artifact: Artifact
    source: ItemSource
    warnings: list[dict[str, Any]] = []
    link_refreshes: int = 0
    at: str
    # The catalogue entries the step recorded (by key): WriteManifest folds them into the run's index.
    catalogue: dict[str, CatalogueEntry] = {}


class HeldCopy(WireModel):
    """The archived copy that already holds an unchanged item: its key, version, bytes, and when and by which run."""

    key: str
    version_id: str | None
    size: int
    sha256: str
    archived_at: str
    run_id: str

    @classmethod
    def of(cls, entry: CatalogueEntry) -> HeldCopy:
        return cls(
            key=entry.key,
            version_id=entry.version_id,
            size=entry.size,
            sha256=entry.sha256,
            archived_at=entry.archived_at,
            run_id=entry.run_id,
        )


# Why an item was not archived again: its assets' fingerprints (and request, dependencies) are those of the
# copy held, so no export was started; or it was exported and its bytes are the copy's, so none was stored.
UnchangedBecause = Literal["fingerprints", "sameBytes"]


class UnchangedOutcome(WireModel):
    item_id: str
    kind: ItemKind
    status: Literal["unchanged"] = "unchanged"
    held: HeldCopy
    because: UnchangedBecause
    source: ItemSource
    at: str
    catalogue: dict[str, CatalogueEntry] = {}


class FailedOutcome(WireModel):
    item_id: str
    kind: ItemKind
    status: Literal["failed"] = "failed"
    error: ErrorRecord
    source: ItemSource
    at: str


ItemOutcome = Annotated[ArchivedOutcome | UnchangedOutcome | FailedOutcome, Field(discriminator="status")]


class ManifestArtifact(Artifact):
    item_id: str
    kind: ItemKind
    source: ItemSource
    warnings: list[dict[str, Any]]
    link_refreshes: int
    archived_at: str


class ManifestFailure(SparseWireModel):
    item_id: str
    kind: FailureKind
    error: ErrorRecord
    source: FailureSource
    # An item whose step never recorded an outcome has no time of its own: the key is then left out.
    at: str | None = None


class ManifestUnchanged(WireModel):
    """An item not archived again: the copy that holds it, and why it is the same."""

    item_id: str
    kind: ItemKind
    held: HeldCopy
    because: UnchangedBecause
    source: ItemSource
    at: str


class DeletedUpstream(WireModel):
    """An asset the catalogue holds that a full discovery of its type no longer found: its last archived copy."""

    arn: str
    type: str
    key: str
    version_id: str | None
    archived_at: str
    # When a discovery first found it gone.
    since: str


class RunSummary(WireModel):
    """The run's summary: WriteManifest's result, the execution's output, the manifest's ``summary``."""

    run_id: str
    items: int
    archived: int
    failed: int
    unchanged: int = 0
    deleted_upstream: int = 0
    # Discovered assets that asset bundles cannot export: recorded, not archived, not failed.
    unsupported: int = 0
    bytes: int
    manifest_bucket: str
    manifest_key: str


class UnsupportedAsset(WireModel):
    """A discovered asset that no bundle can export, and why: it is left out of the bundle it would be in."""

    arn: str
    type: str
    name: str | None = None
    reason: str


class DiscoveryCounts(WireModel):
    """What a run's discovery found: assets per type (those to archive, dependencies included), and what it planned."""

    found: dict[str, int]
    bundles: int
    apps: int


class DiscoveryOutcome(WireModel):
    """What DiscoverAssets recorded (``layout.discovery_key``): counts, unsupported assets, what it could not list."""

    counts: DiscoveryCounts
    unsupported: list[UnsupportedAsset] = []
    failures: list[ManifestFailure] = []
    at: str


class DiscoverEvent(WireModel):
    """DiscoverAssets' event: the staged run ValidateRun returned, whose discovery it carries out."""

    plan: StagedRun


class Manifest(WireModel):
    manifest_version: int
    run: RunContext
    summary: RunSummary
    artifacts: list[ManifestArtifact]
    failures: list[ManifestFailure]
    unchanged: list[ManifestUnchanged] = []
    deleted_upstream: list[DeletedUpstream] = []
    # Present when the run discovered: what it found, and the assets it found that bundles cannot export.
    discovery: DiscoveryCounts | None = None
    unsupported: list[UnsupportedAsset] = []
    written_at: str
