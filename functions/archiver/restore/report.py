"""Each restored item's outcome, and the restore's report gathered from them.

As for archive runs, item steps write their outcome to the bucket (``restores/{id}/items/``)
rather than through the state machine, and the report step reads exactly the outcomes the
plan expects: an item whose step died without saying is reported failed.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from archiver.core import layout
from archiver.core.documents import (
    describe_step_error,
    error_record,
    get_document,
    no_outcome_recorded,
    now,
    put_document,
)
from archiver.core.observability import failure_noted
from archiver.core.wire import ErrorRecord, FailureNoted, StepError
from archiver.restore.models import (
    BundleImported,
    Checked,
    FailedRestoreOutcome,
    FileUploaded,
    PlannedBundleRestore,
    PlannedRestore,
    PlannedRestoreItem,
    RestoredOutcome,
    RestoreKind,
    RestoreOutcome,
    RestorePlan,
    RestoreReport,
    RestoreSummary,
    RestoreTarget,
    ValidatedOutcome,
)
from archiver.restore.plan import restore_items
from archiver.restore.request import VALIDATE

REPORT_VERSION = 1
# What the report keeps of a planned item, besides its outcome: where it came from, where it went.
_TARGET_KEYS = frozenset(RestoreTarget.model_fields)


def _item(item: PlannedRestoreItem, kind: RestoreKind) -> dict[str, Any]:
    # The target holds the keys the plan gave the item (a file's sessionId only when it has one).
    given = item.model_dump(include=set(_TARGET_KEYS & item.model_fields_set))
    return {"item_id": item.item_id, "kind": kind, "source": item.source, "target": RestoreTarget(**given)}


def record_restored(
    s3: Any,
    bucket: str,
    *,
    restore: PlannedRestore,
    item: PlannedRestoreItem,
    kind: RestoreKind,
    result: BundleImported | FileUploaded,
) -> RestoredOutcome:
    """Write the outcome of an item that is back in its service, and return it."""
    outcome = RestoredOutcome(**_item(item, kind), result=result, at=now())
    put_document(s3, bucket, layout.restore_outcome_key(restore.restore_id, item.item_id), outcome.wire())
    return outcome


def record_failed(
    s3: Any,
    bucket: str,
    *,
    restore: PlannedRestore,
    item: PlannedRestoreItem,
    kind: RestoreKind,
    error: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> FailedRestoreOutcome:
    """Write the outcome of an item that could not be restored, and return it."""
    outcome = FailedRestoreOutcome(
        **_item(item, kind), error=ErrorRecord.model_validate(error_record(error, message, details)), at=now()
    )
    put_document(s3, bucket, layout.restore_outcome_key(restore.restore_id, item.item_id), outcome.wire())
    return outcome


def record_caught_failure(
    s3: Any,
    bucket: str,
    *,
    restore: PlannedRestore,
    item: PlannedRestoreItem,
    kind: RestoreKind,
    step_error: StepError,
) -> FailureNoted:
    """Record an item whose step failed (``step_error``: the ``Catch``'s ``{Error, Cause}``) so the restore goes on.

    Returns what the state machine keeps of it (see ``failure_noted``).
    """
    error, message = describe_step_error(step_error)
    record_failed(s3, bucket, restore=restore, item=item, kind=kind, error=error, message=message)
    return FailureNoted.model_validate(
        failure_noted("Restore item failed", item_id=item.item_id, kind=kind, error=error, message=message)
    )


def _validated(item: PlannedRestoreItem, kind: RestoreKind) -> ValidatedOutcome:
    checked = Checked(resources=item.resources) if isinstance(item, PlannedBundleRestore) else Checked()
    return ValidatedOutcome(**_item(item, kind), result=checked)


_OUTCOME: TypeAdapter[RestoredOutcome | ValidatedOutcome | FailedRestoreOutcome] = TypeAdapter(RestoreOutcome)


def _outcome(
    s3: Any, bucket: str, plan: RestorePlan, kind: RestoreKind, item: PlannedRestoreItem
) -> RestoredOutcome | ValidatedOutcome | FailedRestoreOutcome:
    """What the report says of one planned item: what its step recorded, or that it recorded nothing."""
    if plan.restore.mode == VALIDATE:
        return _validated(item, kind)
    document = get_document(s3, bucket, layout.restore_outcome_key(plan.restore.restore_id, item.item_id))
    if document is not None:
        return _OUTCOME.validate_python(document)
    return FailedRestoreOutcome(
        **_item(item, kind), error=ErrorRecord.model_validate(no_outcome_recorded(plan.restore_error))
    )


def write_report(s3: Any, bucket: str, plan: RestorePlan) -> RestoreSummary:
    """Gather every planned item's outcome into ``restores/{id}.json``; return the restore's summary.

    In validate mode nothing was restored: the report lists what the first step checked. An item with
    no recorded outcome (its branch died before it could say, ``plan.restore_error`` says why when known)
    is reported failed.
    """
    restore = plan.restore
    items = [_outcome(s3, bucket, plan, kind, item) for kind, item in restore_items(plan)]
    statuses = [item.status for item in items]
    summary = RestoreSummary(
        restore_id=restore.restore_id,
        mode=restore.mode,
        items=len(items),
        restored=statuses.count("restored"),
        validated=statuses.count("validated"),
        failed=statuses.count("failed"),
        report_bucket=bucket,
        report_key=layout.restore_report_key(restore.restore_id),
    )
    report = RestoreReport(
        report_version=REPORT_VERSION,
        restore=restore,
        drill=plan.drill,
        summary=summary,
        items=items,
        written_at=now(),
    )
    put_document(s3, bucket, summary.report_key, report.wire())
    return summary


def read_report(s3: Any, bucket: str, restore_id: str) -> RestoreReport | None:
    """The report a restore wrote, read back as the model it was written from (``None`` before it is written)."""
    document = get_document(s3, bucket, layout.restore_report_key(restore_id))
    return None if document is None else RestoreReport.model_validate(document)
