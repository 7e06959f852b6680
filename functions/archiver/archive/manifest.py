"""Each item's outcome, and the run's manifest gathered from them.

Item steps write their outcome to the bucket instead of returning it through the state
machine: a run's outcomes can outgrow the 256 KiB state payload, and the manifest step then
accounts for every planned item by reading exactly the outcomes the plan says to expect.
A restore's outcomes and report (``archiver.restore.report``) are the same kind of document, written
alike (``archiver.core.documents``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archiver.archive.run_input import run_items
from archiver.core import clients, layout
from archiver.core.documents import (
    describe_step_error,
    error_record,
    get_document,
    no_outcome_recorded,
    now,
    put_document,
)
from archiver.core.observability import failure_noted
from archiver.store.write_once import StoredObject

MANIFEST_VERSION = 1


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


def bundle_source(bundle: dict[str, Any], *, job_arn: str) -> dict[str, Any]:
    """A bundle's source: its export job and the resources it exports."""
    return {"jobId": bundle["jobId"], "jobArn": job_arn, "resourceArns": bundle["resourceArns"]}


def item_source(item: dict[str, Any], *, kind: str, place: ItemPlace) -> dict[str, Any]:
    """What a failed item is, in the manifest: for a bundle its export job, for a Q Apps item its ids."""
    if kind == "bundle":
        return bundle_source(item, job_arn=place.export_job_arn(item["jobId"]))
    source = {"instanceId": place.instance_id, "appId": item["appId"]}
    return {**source, "sessionId": item["sessionId"]} if kind == "session" else source


def item_named(item: dict[str, Any], *, kind: str, instance_id: str | None) -> str:
    """The item as a message names it: ``bundle finance (export job run-1-finance)``, ``app … (instance …)``."""
    if kind == "bundle":
        return f"bundle {item['name']} (export job {item['jobId']})"
    app = f"app {item['appId']} (instance {instance_id})"
    return f"session {item['sessionId']} of {app}" if kind == "session" else app


def _names_item(message: str, item: dict[str, Any], kind: str) -> bool:
    if kind == "bundle":
        return f"bundle {item['name']}" in message and item["jobId"] in message
    return item["appId"] in message and (kind != "session" or item["sessionId"] in message)


def naming_the_item(message: str, item: dict[str, Any], *, kind: str, instance_id: str | None) -> str:
    """``message``, led by the item's name unless it names the item already.

    The archiver's own errors name their resource; Step Functions' (``States.Timeout``,
    ``Lambda.Unknown``) and a few raised below the item's level (a refused download link names only
    its host) do not, and an operator reading the manifest must not have to guess which item failed.
    """
    if _names_item(message, item, kind):
        return message
    return f"{item_named(item, kind=kind, instance_id=instance_id)}: {message}"


def record_archived(
    s3: Any,
    bucket: str,
    *,
    run: dict[str, Any],
    item_id: str,
    kind: str,
    stored: StoredObject,
    source: dict[str, Any],
    warnings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write the outcome of an item that is now in the archive, and return it."""
    outcome = {
        "itemId": item_id,
        "kind": kind,
        "status": "archived",
        "artifact": {
            "key": stored.key,
            "size": stored.size,
            "sha256": stored.sha256,
            "s3Checksum": stored.s3_checksum,
            "s3ChecksumAlgorithm": stored.s3_checksum_algorithm,
            "versionId": stored.version_id,
            "alreadyArchived": stored.already_archived,
        },
        "source": source,
        "warnings": warnings or [],
        "linkRefreshes": stored.link_refreshes,
        "at": now(),
    }
    put_document(s3, bucket, layout.outcome_key(run["id"], item_id), outcome)
    return outcome


def record_failed(
    s3: Any,
    bucket: str,
    *,
    run: dict[str, Any],
    item_id: str,
    kind: str,
    error: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the outcome of an item that could not be archived, and return it."""
    outcome = {
        "itemId": item_id,
        "kind": kind,
        "status": "failed",
        "error": error_record(error, message, details),
        "source": source or {},
        "at": now(),
    }
    put_document(s3, bucket, layout.outcome_key(run["id"], item_id), outcome)
    return outcome


def record_caught_failure(
    s3: Any,
    bucket: str,
    *,
    run: dict[str, Any],
    item: dict[str, Any],
    kind: str,
    step_error: dict[str, Any],
    place: ItemPlace,
) -> dict[str, str]:
    """Record an item whose step failed (``step_error``: the ``Catch``'s ``{Error, Cause}``) so the run goes on.

    Returns what the state machine keeps of it (see ``failure_noted``).
    """
    error, message = describe_step_error(step_error)
    message = naming_the_item(message, item, kind=kind, instance_id=place.instance_id)
    record_failed(
        s3,
        bucket,
        run=run,
        item_id=item["itemId"],
        kind=kind,
        error=error,
        message=message,
        source=item_source(item, kind=kind, place=place),
    )
    return failure_noted("Item failed", item_id=item["itemId"], kind=kind, error=error, message=message)


def recorded_outcome(s3: Any, bucket: str, *, run: dict[str, Any], item_id: str) -> dict[str, Any] | None:
    """The outcome an earlier execution of this run recorded for the item, if any."""
    return get_document(s3, bucket, layout.outcome_key(run["id"], item_id))


def write_manifest(
    s3: Any, bucket: str, plan: dict[str, Any], *, place: ItemPlace, run_error: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Gather every planned item's outcome into ``manifests/{run id}.json``; return the run summary.

    An item with no recorded outcome (its branch died before it could say) counts as failed,
    so the manifest always accounts for every item of the input.
    """
    run = plan["run"]
    artifacts: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for item in run_items(plan):
        outcome = get_document(s3, bucket, layout.outcome_key(run["id"], item["itemId"]))
        if outcome is None:
            kind = item["kind"]
            named = item_named(item, kind=kind, instance_id=place.instance_id)
            failures.append(
                {
                    "itemId": item["itemId"],
                    "kind": kind,
                    "error": no_outcome_recorded(run_error, item=named),
                    "source": item_source(item, kind=kind, place=place),
                }
            )
        elif outcome["status"] == "archived":
            artifacts.append(
                {
                    "itemId": outcome["itemId"],
                    "kind": outcome["kind"],
                    **outcome["artifact"],
                    "source": outcome["source"],
                    "warnings": outcome["warnings"],
                    "linkRefreshes": outcome.get("linkRefreshes", 0),
                    "archivedAt": outcome["at"],
                }
            )
        else:
            failures.append({key: outcome[key] for key in ("itemId", "kind", "error", "source", "at")})
    summary = {
        "runId": run["id"],
        "items": len(artifacts) + len(failures),
        "archived": len(artifacts),
        "failed": len(failures),
        "bytes": sum(artifact["size"] for artifact in artifacts),
        "manifestBucket": bucket,
        "manifestKey": layout.manifest_key(run["id"]),
    }
    manifest = {
        "manifestVersion": MANIFEST_VERSION,
        "run": run,
        "summary": summary,
        "artifacts": artifacts,
        "failures": failures,
        "writtenAt": now(),
    }
    put_document(s3, bucket, summary["manifestKey"], manifest)
    return summary
