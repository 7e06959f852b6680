"""Each restored item's outcome, and the restore's report gathered from them.

As for archive runs, item steps write their outcome to the bucket (``restores/{id}/items/``)
rather than through the state machine, and the report step reads exactly the outcomes the
plan expects: an item whose step died without saying is reported failed.
"""

from __future__ import annotations

from typing import Any

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
from archiver.core.wire import StepError
from archiver.restore.plan import restore_items
from archiver.restore.request import VALIDATE

REPORT_VERSION = 1
# What the report keeps of a planned item, besides its outcome: where it came from, where it went.
_TARGET_KEYS = ("appId", "cardId", "fileName", "scope", "sessionId", "importSource", "failureAction", "jobId")


def _item(item: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "itemId": item["itemId"],
        "kind": kind,
        "source": item.get("source", {}),
        "target": {key: item[key] for key in _TARGET_KEYS if key in item},
    }


def record_restored(
    s3: Any, bucket: str, *, restore: dict[str, Any], item: dict[str, Any], kind: str, result: dict[str, Any]
) -> dict[str, Any]:
    """Write the outcome of an item that is back in its service, and return it."""
    outcome = {**_item(item, kind), "status": "restored", "result": result, "at": now()}
    put_document(s3, bucket, layout.restore_outcome_key(restore["id"], item["itemId"]), outcome)
    return outcome


def record_failed(
    s3: Any,
    bucket: str,
    *,
    restore: dict[str, Any],
    item: dict[str, Any],
    kind: str,
    error: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write the outcome of an item that could not be restored, and return it."""
    outcome = {**_item(item, kind), "status": "failed", "error": error_record(error, message, details), "at": now()}
    put_document(s3, bucket, layout.restore_outcome_key(restore["id"], item["itemId"]), outcome)
    return outcome


def record_caught_failure(
    s3: Any, bucket: str, *, restore: dict[str, Any], item: dict[str, Any], kind: str, step_error: StepError
) -> dict[str, str]:
    """Record an item whose step failed (``step_error``: the ``Catch``'s ``{Error, Cause}``) so the restore goes on.

    Returns what the state machine keeps of it: ``{itemId, error}``.
    """
    error, message = describe_step_error(step_error)
    record_failed(s3, bucket, restore=restore, item=item, kind=kind, error=error, message=message)
    return failure_noted("Restore item failed", item_id=item["itemId"], kind=kind, error=error, message=message)


def _validated(item: dict[str, Any]) -> dict[str, Any]:
    details = {"resources": item["resources"]} if item["kind"] == "bundle" else {}
    return {**_item(item, item["kind"]), "status": "validated", "result": details}


def _unrecorded(item: dict[str, Any], restore_error: StepError | None) -> dict[str, Any]:
    return {**_item(item, item["kind"]), "status": "failed", "error": no_outcome_recorded(restore_error)}


def write_report(
    s3: Any, bucket: str, plan: dict[str, Any], *, restore_error: StepError | None = None
) -> dict[str, Any]:
    """Gather every planned item's outcome into ``restores/{id}.json``; return the restore's summary.

    In validate mode nothing was restored: the report lists what the first step checked.
    """
    restore = plan["restore"]
    items: list[dict[str, Any]] = []
    for item in restore_items(plan):
        if restore["mode"] == VALIDATE:
            items.append(_validated(item))
            continue
        outcome = get_document(s3, bucket, layout.restore_outcome_key(restore["id"], item["itemId"]))
        items.append(outcome if outcome is not None else _unrecorded(item, restore_error))
    statuses = [item["status"] for item in items]
    summary = {
        "restoreId": restore["id"],
        "mode": restore["mode"],
        "items": len(items),
        "restored": statuses.count("restored"),
        "validated": statuses.count("validated"),
        "failed": statuses.count("failed"),
        "reportBucket": bucket,
        "reportKey": layout.restore_report_key(restore["id"]),
    }
    report = {
        "reportVersion": REPORT_VERSION,
        "restore": restore,
        "drill": plan.get("drill"),
        "summary": summary,
        "items": items,
        "writtenAt": now(),
    }
    put_document(s3, bucket, summary["reportKey"], report)
    return summary
