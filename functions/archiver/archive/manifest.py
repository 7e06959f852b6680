"""Each item's outcome, and the run's manifest gathered from them.

Item steps write their outcome to the bucket instead of returning it through the state
machine: a run's outcomes can outgrow the 256 KiB state payload, and the manifest step then
accounts for every planned item by reading exactly the outcomes the plan says to expect.
A restore's outcomes and report (``archiver.restore.report``) are the same kind of document, written
alike (``archiver.core.documents``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter

from archiver import catalogue
from archiver.archive.models import (
    AppSource,
    ArchivedOutcome,
    Artifact,
    BundleSource,
    DeletedUpstream,
    DiscoveryCounts,
    DiscoveryOutcome,
    DiscoverySource,
    FailedOutcome,
    HeldCopy,
    ItemOutcome,
    ManifestArtifact,
    ManifestFailure,
    ManifestUnchanged,
    PlannedBundle,
    PlannedItem,
    PlannedSession,
    RunContext,
    RunPlan,
    RunSummary,
    SessionSource,
    StagedRun,
    UnchangedOutcome,
)
from archiver.archive.run_input import run_items
from archiver.catalogue import CatalogueEntry, CatalogueIndex
from archiver.core import clients, layout
from archiver.core.documents import (
    ArrayPart,
    StreamedDocument,
    describe_step_error,
    error_record,
    get_document,
    no_outcome_recorded,
    now,
    put_document,
)
from archiver.core.observability import failure_noted
from archiver.core.wire import ErrorRecord, FailureNoted, StepError
from archiver.store.write_once import StoredObject

MANIFEST_VERSION = 1
# Outcomes read at once by WriteManifest: S3 answers each GET in tens of milliseconds, so 12,000 outcomes
# take minutes one by one and seconds this way; one reader per connection of the S3 client's pool.
OUTCOME_READERS = clients.S3_CONNECTIONS
# How far reading may run ahead of writing: the outcomes held in memory at once, whatever the run's size.
OUTCOMES_AHEAD = 4 * OUTCOME_READERS

_Item = TypeVar("_Item")
_Read = TypeVar("_Read")


@dataclass(frozen=True)
class ItemPlace:
    """Where a run's items live, besides what each item says of itself: a failure's source needs both.

    A failure's source is built from the planned item, never from what a step returned, so every
    failure has one: also those Step Functions raises itself (``States.Timeout``, ``Lambda.Unknown``)
    and items whose step never recorded an outcome.
    """

    account_id: str | None
    instance_id: str | None
    region: str
    partition: str

    @classmethod
    def of(cls, *, account_id: str | None, instance_id: str | None) -> ItemPlace:
        """The place of a run's items: QuickSight's account and region, Q Apps' instance."""
        meta = clients.quicksight().meta  # the client that starts the export jobs: their region, their partition
        return cls(account_id=account_id, instance_id=instance_id, region=meta.region_name, partition=meta.partition)

    def export_job_arn(self, job_id: str) -> str:
        """The ARN QuickSight gives export job ``job_id`` (its id comes from the plan, so it is known up front)."""
        return f"arn:{self.partition}:quicksight:{self.region}:{self.account_id}:asset-bundle-export-job/{job_id}"


def bundle_source(bundle: PlannedBundle, *, job_arn: str) -> BundleSource:
    """A failed bundle's source: its export job and the resources it exports."""
    return with_dependencies(
        BundleSource(job_id=bundle.job_id, job_arn=job_arn, resource_arns=bundle.resource_arns), bundle
    )


def with_dependencies(source: BundleSource, bundle: PlannedBundle) -> BundleSource:
    """``source`` with what a discovered bundle needs from others; a listed bundle's leaves the key out, as ever."""
    return source.model_copy(update={"dependencies": bundle.dependencies}) if bundle.dependencies else source


def item_source(item: PlannedItem, *, place: ItemPlace) -> BundleSource | SessionSource | AppSource:
    """What a failed item is, in the manifest: for a bundle its export job, for a Q Apps item its ids."""
    if isinstance(item, PlannedBundle):
        return bundle_source(item, job_arn=place.export_job_arn(item.job_id))
    if isinstance(item, PlannedSession):
        return SessionSource(instance_id=place.instance_id, app_id=item.app_id, session_id=item.session_id)
    return AppSource(instance_id=place.instance_id, app_id=item.app_id)


def item_named(item: PlannedItem, *, instance_id: str | None) -> str:
    """The item as a message names it: ``bundle finance (export job run-1-finance)``, ``app … (instance …)``."""
    if isinstance(item, PlannedBundle):
        return f"bundle {item.name} (export job {item.job_id})"
    app = f"app {item.app_id} (instance {instance_id})"
    return f"session {item.session_id} of {app}" if isinstance(item, PlannedSession) else app


def _names_item(message: str, item: PlannedItem) -> bool:
    if isinstance(item, PlannedBundle):
        return f"bundle {item.name}" in message and item.job_id in message
    return item.app_id in message and (not isinstance(item, PlannedSession) or item.session_id in message)


def naming_the_item(message: str, item: PlannedItem, *, instance_id: str | None) -> str:
    """``message``, led by the item's name unless it names the item already.

    The archiver's own errors name their resource; Step Functions' (``States.Timeout``,
    ``Lambda.Unknown``) and a few raised below the item's level (a refused download link names only
    its host) do not, and an operator reading the manifest must not have to guess which item failed.
    """
    if _names_item(message, item):
        return message
    return f"{item_named(item, instance_id=instance_id)}: {message}"


def record_archived(
    s3: Any,
    bucket: str,
    *,
    run: RunContext,
    item_id: str,
    kind: str,
    stored: StoredObject,
    source: BundleSource | SessionSource | AppSource,
    warnings: list[dict[str, Any]] | None = None,
    catalogued: dict[str, CatalogueEntry] | None = None,
) -> ArchivedOutcome:
    """Write the outcome of an item that is now in the archive, and return it."""
    outcome = ArchivedOutcome(
        item_id=item_id,
        kind=kind,  # type: ignore[arg-type]  # validated: the model refuses a kind it does not know
        artifact=Artifact(
            key=stored.key,
            size=stored.size,
            sha256=stored.sha256,
            s3_checksum=stored.s3_checksum,
            s3_checksum_algorithm=stored.s3_checksum_algorithm,
            version_id=stored.version_id,
            already_archived=stored.already_archived,
        ),
        source=source,
        warnings=warnings or [],
        link_refreshes=stored.link_refreshes,
        at=now(),
        catalogue=catalogued or {},
    )
    put_document(s3, bucket, layout.outcome_key(run.run_id, item_id), outcome.wire())
    return outcome


def record_unchanged(
    s3: Any,
    bucket: str,
    *,
    run: RunContext,
    item_id: str,
    kind: str,
    held: HeldCopy,
    because: str,
    source: BundleSource | SessionSource | AppSource,
    catalogued: dict[str, CatalogueEntry] | None = None,
) -> UnchangedOutcome:
    """Write the outcome of an item its last archived copy (``held``) still holds, and return it."""
    outcome = UnchangedOutcome(
        item_id=item_id,
        kind=kind,  # type: ignore[arg-type]  # validated, as above
        held=held,
        because=because,  # type: ignore[arg-type]  # validated: fingerprints or sameBytes
        source=source,
        at=now(),
        catalogue=catalogued or {},
    )
    put_document(s3, bucket, layout.outcome_key(run.run_id, item_id), outcome.wire())
    return outcome


def record_failed(
    s3: Any,
    bucket: str,
    *,
    run: RunContext,
    item_id: str,
    kind: str,
    error: str,
    message: str,
    source: BundleSource | SessionSource | AppSource,
    details: list[dict[str, Any]] | None = None,
) -> FailedOutcome:
    """Write the outcome of an item that could not be archived, and return it."""
    outcome = FailedOutcome(
        item_id=item_id,
        kind=kind,  # type: ignore[arg-type]  # validated, as above
        error=ErrorRecord.model_validate(error_record(error, message, details)),
        source=source,
        at=now(),
    )
    put_document(s3, bucket, layout.outcome_key(run.run_id, item_id), outcome.wire())
    return outcome


def record_caught_failure(
    s3: Any,
    bucket: str,
    *,
    run: RunContext,
    item: PlannedItem,
    kind: str,
    step_error: StepError,
    place: ItemPlace,
) -> FailureNoted:
    """Record an item whose step failed (``step_error``: the ``Catch``'s ``{Error, Cause}``) so the run goes on.

    Returns what the state machine keeps of it (see ``failure_noted``).
    """
    error, message = describe_step_error(step_error)
    message = naming_the_item(message, item, instance_id=place.instance_id)
    record_failed(
        s3,
        bucket,
        run=run,
        item_id=item.item_id,
        kind=kind,
        error=error,
        message=message,
        source=item_source(item, place=place),
    )
    return FailureNoted.model_validate(
        failure_noted("Item failed", item_id=item.item_id, kind=kind, error=error, message=message)
    )


Outcome = ArchivedOutcome | UnchangedOutcome | FailedOutcome
_OUTCOME: TypeAdapter[Outcome] = TypeAdapter(ItemOutcome)


def recorded_outcome(s3: Any, bucket: str, *, run: RunContext, item_id: str) -> Outcome | None:
    """The outcome an earlier execution of this run recorded for the item, if any."""
    document = get_document(s3, bucket, layout.outcome_key(run.run_id, item_id))
    return None if document is None else _OUTCOME.validate_python(document)


ManifestEntry = ManifestArtifact | ManifestUnchanged | ManifestFailure


def _manifest_entry(
    s3: Any, bucket: str, plan: RunPlan, kind: str, item: PlannedItem, place: ItemPlace
) -> tuple[ManifestEntry, dict[str, CatalogueEntry]]:
    """What the manifest says of one planned item (its artifact, the copy that holds it, or why it has none),
    and the catalogue entries its step recorded."""
    outcome = recorded_outcome(s3, bucket, run=plan.run, item_id=item.item_id)
    if outcome is None:
        named = item_named(item, instance_id=place.instance_id)
        return ManifestFailure(
            item_id=item.item_id,
            kind=kind,  # type: ignore[arg-type]  # a plan's kinds are the model's
            error=ErrorRecord.model_validate(no_outcome_recorded(plan.run_error, item=named)),
            source=item_source(item, place=place),
        ), {}
    if isinstance(outcome, UnchangedOutcome):
        unchanged = ManifestUnchanged(
            item_id=outcome.item_id,
            kind=outcome.kind,
            held=outcome.held,
            because=outcome.because,
            source=outcome.source,
            at=outcome.at,
        )
        return unchanged, outcome.catalogue
    if isinstance(outcome, ArchivedOutcome):
        return ManifestArtifact(
            **outcome.artifact.model_dump(),
            item_id=outcome.item_id,
            kind=outcome.kind,
            source=outcome.source,
            warnings=outcome.warnings,
            link_refreshes=outcome.link_refreshes,
            archived_at=outcome.at,
        ), outcome.catalogue
    return ManifestFailure(
        item_id=outcome.item_id, kind=outcome.kind, error=outcome.error, source=outcome.source, at=outcome.at
    ), {}


def _deleted_upstream(
    index: CatalogueIndex | None, plan: RunPlan, at: str
) -> tuple[list[DeletedUpstream], dict[str, str]]:
    """The catalogue's assets of the plan's completely listed types that its bundles no longer hold.

    Only a plan that is a full discovery of a type (``complete_types``) says so; each such asset is
    listed with its last archived copy, and the time a discovery first found it gone.
    """
    account, types = plan.quicksight.aws_account_id, set(plan.quicksight.complete_types)
    if index is None or not types or account is None:
        return [], {}
    listed = {
        catalogue.subject_of_asset(account, asset.arn) for bundle in plan.quicksight.bundles for asset in bundle.assets
    }
    deleted, gone = [], {}
    for subject, indexed in sorted(index.subjects.items()):
        entry = indexed.entry
        if entry.kind != "asset" or entry.type not in types or entry.arn is None or subject in listed:
            continue
        if entry.arn.split(":")[4] != account:
            continue
        since = indexed.deleted_upstream_at or at
        gone[subject] = since
        deleted.append(
            DeletedUpstream(
                arn=entry.arn,
                type=entry.type,
                key=entry.key,
                version_id=entry.version_id,
                archived_at=entry.archived_at,
                since=since,
            )
        )
    return deleted, gone


def read_ahead(
    pool: ThreadPoolExecutor, read: Callable[[_Item], _Read], items: Iterable[_Item], *, ahead: int
) -> Iterator[_Read]:
    """``read`` of each item, in the items' order, at most ``ahead`` of them read or being read at once.

    ``pool.map`` would read every item before the first is used, and hold them all.
    """
    pending: deque[Future[_Read]] = deque()
    for item in items:
        if len(pending) == ahead:
            yield pending.popleft().result()
        pending.append(pool.submit(read, item))
    while pending:
        yield pending.popleft().result()


def discovery_of(s3: Any, bucket: str, staged: StagedRun) -> DiscoveryOutcome | None:
    """What the run's discovery recorded (None for a run that discovers nothing).

    A DiscoverAssets that died as a whole (``staged.discovery_error``, its Catch's) is a ``discovery``
    failure, so the run fails and says why, while what the input listed was archived all the same.
    """
    if not staged.discovers:
        return None
    document = get_document(s3, bucket, layout.discovery_key(staged.run.run_id))
    recorded = (
        DiscoveryOutcome.model_validate(document)
        if document is not None
        else DiscoveryOutcome(counts=DiscoveryCounts(found={}, bundles=0, apps=0), at=now())
    )
    if staged.discovery_error is None:
        return recorded
    died = ManifestFailure(
        item_id="discovery",
        kind="discovery",
        error=ErrorRecord.model_validate(error_record(*describe_step_error(staged.discovery_error))),
        source=DiscoverySource(
            service="quicksight" if staged.quicksight.discover is not None else "qapps",
            listing="DiscoverAssets",
            aws_account_id=staged.quicksight.aws_account_id,
            instance_id=staged.qapps.instance_id,
        ),
        at=now(),
    )
    return recorded.model_copy(update={"failures": [*recorded.failures, died]})


def write_manifest(
    s3: Any, bucket: str, plan: RunPlan, *, place: ItemPlace, discovery: DiscoveryOutcome | None = None
) -> RunSummary:
    """Gather every planned item's outcome into ``manifests/{run id}.json``; return the run summary.

    An item with no recorded outcome (its branch died before it could say, ``plan.run_error`` says why
    when known) counts as failed, so the manifest always accounts for every item of the input. A run that
    discovered adds what ``discovery`` found: its counts, the assets left out as ``unsupported`` (neither
    archived nor failed) and what it could not list (failures of kind ``discovery``).

    The outcomes are read ``OUTCOME_READERS`` at a time and written out as they come, artifacts into the
    document and failures beside it (``docs/manifest.md``'s layout: artifacts, then failures, then the run
    and its summary), so memory stays bounded whatever the run's size; the document is put in one request.
    """
    written = datetime.now(UTC)
    base_key = catalogue.latest_index_key(s3, bucket)
    base = None if base_key is None else (base_key, catalogue.read_index(s3, bucket, base_key))
    deleted, gone = _deleted_upstream(base[1] if base else None, plan, catalogue.iso(written))
    summary = {"items": 0, "archived": 0, "failed": 0, "unchanged": 0, "bytes": 0}
    unsupported = discovery.unsupported if discovery is not None else []
    # The catalogue entries the items' steps recorded, for the index: one small record an archived item.
    recorded: dict[str, CatalogueEntry] = {}

    def entry(planned: tuple[str, PlannedItem]) -> tuple[ManifestEntry, dict[str, CatalogueEntry]]:
        return _manifest_entry(s3, bucket, plan, planned[0], planned[1], place)

    def artifacts(
        entries: Iterator[tuple[ManifestEntry, dict[str, CatalogueEntry]]], failures: ArrayPart, unchanged: ArrayPart
    ) -> Iterator[Any]:
        for written_entry, catalogued in entries:
            summary["items"] += 1
            recorded.update(catalogued)
            if isinstance(written_entry, ManifestFailure):
                # A failure with no time of its own leaves ``at`` out (a SparseWireModel), as always.
                failures.add(written_entry.wire())
                continue
            if isinstance(written_entry, ManifestUnchanged):
                unchanged.add(written_entry.wire())
                continue
            summary["archived"] += 1
            summary["bytes"] += written_entry.size
            yield written_entry.wire()

    key = layout.manifest_key(plan.run.run_id)
    with (
        ThreadPoolExecutor(max_workers=OUTCOME_READERS) as pool,
        StreamedDocument() as document,
        ArrayPart() as failures,
        ArrayPart() as unchanged,
    ):
        read = read_ahead(pool, entry, run_items(plan), ahead=OUTCOMES_AHEAD)
        # Keys in sorted order, as the whole-document writer puts them (docs/manifest.md).
        document.array("artifacts", artifacts(read, failures, unchanged))
        document.value("deletedUpstream", [item.wire() for item in deleted])
        document.value("discovery", discovery.counts.wire() if discovery is not None else None)
        # What discovery could not list fails the run too, after the items.
        for failure in discovery.failures if discovery is not None else []:
            failures.add(failure.wire())
        document.append_array("failures", failures)
        summary["failed"], summary["unchanged"] = failures.count, unchanged.count
        run_summary = RunSummary(
            run_id=plan.run.run_id,
            manifest_bucket=bucket,
            manifest_key=key,
            deleted_upstream=len(deleted),
            unsupported=len(unsupported),
            **summary,
        )
        document.value("manifestVersion", MANIFEST_VERSION)
        document.value("run", plan.run.wire())
        document.value("summary", run_summary.wire())
        document.append_array("unchanged", unchanged)
        document.value("unsupported", [asset.wire() for asset in unsupported])
        document.value("writtenAt", now())
        document.put(s3, bucket, key)
    # The catalogue's index last: a run that dies before it leaves the last index and its entries as they were.
    # A run that recorded nothing new and found nothing gone leaves the last index standing.
    newly_gone = {
        subject: at for subject, at in gone.items() if base and not base[1].subjects[subject].deleted_upstream_at
    }
    if recorded or newly_gone:
        index = catalogue.updated_index(
            s3, bucket, base=base, run_id=plan.run.run_id, written_at=written, recorded=recorded, gone=gone
        )
        catalogue.write_index(s3, bucket, index)
    return run_summary
