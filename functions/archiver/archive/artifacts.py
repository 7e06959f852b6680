"""Keeping an item's artifact: write it to the archive once, count it, record its outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from archiver.archive.changes import Subjects, new_copy
from archiver.archive.manifest import record_archived, record_unchanged, recorded_outcome
from archiver.archive.models import (
    ArchivedOutcome,
    ArchiveStepResult,
    HeldCopy,
    ItemSource,
    PlannedItem,
    RunContext,
    UnchangedOutcome,
)
from archiver.catalogue import CatalogueEntry
from archiver.catalogue.store import iso
from archiver.core.links import DownloadLinkPolicy
from archiver.core.observability import count_artifact, logger
from archiver.core.settings import Settings
from archiver.store.copy import archive_bytes, archive_download
from archiver.store.write_once import SameBytesAsArchived, StoredObject, is_archived_intact


def previously_kept(
    s3: Any,
    settings: Settings,
    *,
    run: RunContext,
    item: PlannedItem,
    key: str,
    key_is_prefix: bool = False,
) -> ArchivedOutcome | None:
    """The item's outcome if an earlier execution of this same run archived it at ``key`` and the object is intact.

    Running a run again (same input, same run id) must archive nothing twice: a Q Apps export
    or a new QuickSight job would serve new bytes, which the write-once key would then refuse
    as a conflict. So each archive step first asks whether its item is already settled, and
    only then calls the service.

    ``key`` is where this run keeps the item (``key_is_prefix``: under which prefix, when the key
    is only known after asking the service). An outcome at this run's outcome key whose object is
    elsewhere was not written for this run's item (an execution name used again, months later, with
    another plan or on another date): it is not this run's, and the item is archived afresh.
    """
    outcome = recorded_outcome(s3, settings.archive_bucket, run=run, item_id=item.item_id)
    if not isinstance(outcome, ArchivedOutcome):
        return None
    artifact = outcome.artifact
    if not (artifact.key.startswith(key) if key_is_prefix else artifact.key == key):
        return None
    if not is_archived_intact(s3, settings.archive_bucket, artifact.key, size=artifact.size, sha256=artifact.sha256):
        return None
    logger.info("Already archived by an earlier execution of this run", extra={"item_id": item.item_id})
    return outcome


def unchanged(
    s3: Any,
    settings: Settings,
    *,
    subjects: Subjects,
    held: CatalogueEntry,
    because: str,
    source: ItemSource,
) -> UnchangedOutcome:
    """Record an item its last archived copy (``held``) still holds: nothing is stored, the outcome points at it.

    A bundle whose bytes are the same under new fingerprints (an edit that changed nothing exported) gets
    entries for those fingerprints, pointing at the same copy, so that the next run need not export it.
    """
    copy = HeldCopy.of(held)
    recorded: dict[str, CatalogueEntry] = {}
    if subjects.moved_on_from(held):
        recorded = subjects.record(s3, settings, copy.model_copy(update={"archived_at": iso(datetime.now(UTC))}))
    logger.info(
        "Unchanged since its last archived copy",
        extra={"item_id": subjects.item.item_id, "key": held.key, "because": because},
    )
    return record_unchanged(
        s3,
        settings.archive_bucket,
        run=subjects.run,
        item_id=subjects.item.item_id,
        kind=subjects.kind,
        held=copy,
        because=because,
        source=source,
        catalogued=recorded,
    )


def _count_and_record(
    s3: Any,
    settings: Settings,
    stored: StoredObject,
    *,
    subjects: Subjects,
    last: CatalogueEntry | None,
    kind: str,
    source: ItemSource,
    warnings: list[dict[str, Any]] | None,
    ready_at: float | None = None,
) -> ArchivedOutcome | UnchangedOutcome:
    """Count the artifact now in the archive, catalogue it, log it and record the item's outcome.

    An artifact found already archived at its key by an earlier run (an app's definition is kept once
    per version) is the last copy itself: with ``onlyChanged`` it is recorded as unchanged.
    """
    run, item = subjects.run, subjects.item
    found_kept = stored.already_archived and last is not None and (last.key, last.sha256) == (stored.key, stored.sha256)
    if found_kept and last is not None and last.run_id != run.run_id:
        return unchanged(s3, settings, subjects=subjects, held=last, because="sameBytes", source=source)
    recorded = subjects.record(s3, settings, new_copy(s3, stored, run))
    count_artifact(
        kind,
        stored.size,
        already_archived=stored.already_archived,
        link_refreshes=stored.link_refreshes,
        ready_at=ready_at,
    )
    logger.info(
        "Artifact archived",
        extra={
            "item_id": item.item_id,
            "key": stored.key,
            "size": stored.size,
            "sha256": stored.sha256,
            "already_archived": stored.already_archived,
        },
    )
    return record_archived(
        s3,
        settings.archive_bucket,
        run=run,
        item_id=item.item_id,
        kind=kind,
        stored=stored,
        source=source,
        warnings=warnings,
        catalogued=recorded,
    )


def keep_download(
    s3: Any,
    settings: Settings,
    *,
    subjects: Subjects,
    kind: str,
    key: str,
    content_type: str,
    fetch_link: Callable[[], str],
    export_ready_at: Callable[[], float | None],
    source: ItemSource,
    warnings: list[dict[str, Any]] | None = None,
) -> ArchivedOutcome | UnchangedOutcome:
    """Stream what a presigned link serves into the archive at ``key``; return the item's outcome.

    ``fetch_link`` is called for the first link and again whenever the host says it has expired,
    so the link is only ever held inside this call. ``export_ready_at`` says, once the copy is done,
    when the export it copied was ready (a refresh may have exported again), if known. With
    ``onlyChanged``, bytes equal to the item's last archived copy are not stored (the copy decides
    before its write or its multipart completion): the outcome is ``unchanged`` and points at that copy.
    """
    last = subjects.last_copy(s3, settings)
    try:
        stored = archive_download(
            fetch_link=fetch_link,
            s3=s3,
            bucket=settings.archive_bucket,
            key=key,
            content_type=content_type,
            policy=DownloadLinkPolicy.from_setting(settings.download_allowlist),
            part_size=settings.part_size_bytes,
            max_parts_in_flight=settings.max_parts_in_flight,
            max_link_refreshes=settings.max_link_refreshes,
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            unless_sha256=last.sha256 if last else None,
        )
    except SameBytesAsArchived:
        assert last is not None  # only raised when there is a copy to compare with
        return unchanged(s3, settings, subjects=subjects, held=last, because="sameBytes", source=source)
    return _count_and_record(
        s3,
        settings,
        stored,
        subjects=subjects,
        last=last,
        kind=kind,
        source=source,
        warnings=warnings,
        ready_at=export_ready_at(),
    )


def keep_document(
    s3: Any,
    settings: Settings,
    *,
    subjects: Subjects,
    kind: str,
    key: str,
    body: bytes,
    source: ItemSource,
) -> ArchivedOutcome | UnchangedOutcome:
    """Write a small in-memory document (e.g. JSON) into the archive at ``key``; return the outcome."""
    last = subjects.last_copy(s3, settings)
    stored = archive_bytes(s3=s3, bucket=settings.archive_bucket, key=key, body=body, content_type="application/json")
    return _count_and_record(
        s3, settings, stored, subjects=subjects, last=last, kind=kind, source=source, warnings=None
    )


def link_in_hand_then_fresh(first: str, fresh: Callable[[], str]) -> Callable[[], str]:
    """A link source: the link already in hand, then a fresh one from ``fresh`` for each refresh."""
    pending = [first]

    def fetch() -> str:
        return pending.pop() if pending else fresh()

    return fetch


def step_result(outcome: ArchivedOutcome | UnchangedOutcome) -> ArchiveStepResult:
    """What an archive step returns to the state machine: where the artifact is, nothing more."""
    if isinstance(outcome, UnchangedOutcome):
        return ArchiveStepResult(key=outcome.held.key, size=outcome.held.size)
    return ArchiveStepResult(key=outcome.artifact.key, size=outcome.artifact.size)
