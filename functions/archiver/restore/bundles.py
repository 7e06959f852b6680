"""QuickSight bundle restores: start an asset-bundle import job from the archive, poll it, record it."""

from __future__ import annotations

import hashlib
from typing import Any

from archiver.core.errors import BundleImportTimedOutError, ChecksumMismatchError
from archiver.core.job_polls import first_poll, job_errors, next_poll
from archiver.core.observability import count_failure, logger
from archiver.core.service_errors import naming_errors
from archiver.core.settings import Settings
from archiver.restore.models import BundleImported, ImportPoll, PlannedBundleRestore, PlannedRestore
from archiver.restore.report import record_failed, record_restored
from archiver.restore.sources import iter_object, planned_source

SUCCESSFUL = "SUCCESSFUL"
# FAILED, FAILED_ROLLBACK_IN_PROGRESS, FAILED_ROLLBACK_COMPLETED, FAILED_ROLLBACK_ERROR: a rollback
# in progress is waited for, so the report says whether the account was left as it was.
_FAILED_FOR_GOOD = ("FAILED", "FAILED_ROLLBACK_COMPLETED", "FAILED_ROLLBACK_ERROR")


def _import_source(s3: Any, bucket: str, bundle: PlannedBundleRestore) -> dict[str, Any]:
    archived = planned_source(bundle)
    if bundle.import_source == "s3Uri":
        # QuickSight reads the current version of the key (S3Uri takes no version): the plan
        # checked it is the one archived.
        return {"S3Uri": f"s3://{bucket}/{archived.key}"}
    # Inline: at most 20 MB (checked by the first step), verified before it is sent.
    body = b"".join(iter_object(s3, bucket, archived))
    if archived.sha256 and hashlib.sha256(body).hexdigest() != archived.sha256:
        raise ChecksumMismatchError(f"{archived.key} no longer has the SHA-256 recorded when it was archived")
    return {"Body": body}


def _named(bundle: PlannedBundleRestore) -> str:
    """The bundle as an error message names it: the archived item and its import job."""
    return f"{bundle.item_id} (import job {bundle.job_id})"


def _describe(qs: Any, account_id: str, bundle: PlannedBundleRestore) -> dict[str, Any]:
    with naming_errors("QuickSight", resource=_named(bundle)):
        job: dict[str, Any] = qs.describe_asset_bundle_import_job(
            AwsAccountId=account_id, AssetBundleImportJobId=bundle.job_id
        )
    return job


def start_import(qs: Any, s3: Any, *, account_id: str, bundle: PlannedBundleRestore, settings: Settings) -> ImportPoll:
    """Start the bundle's import job and return the polling state for the workflow.

    The job id comes from the restore, so a retried start finds the job already running
    (``ConflictException``) and polls it instead of importing twice.
    """
    job_id = bundle.job_id
    request: dict[str, Any] = {
        "AwsAccountId": account_id,
        "AssetBundleImportJobId": job_id,
        "AssetBundleImportSource": _import_source(s3, settings.archive_bucket, bundle),
        "FailureAction": bundle.failure_action,
    }
    if bundle.override_parameters:
        request["OverrideParameters"] = bundle.override_parameters
    # Named as the archive's steps name them, so the same retriers honour Retry-After and retry 5xx.
    with naming_errors("QuickSight", resource=_named(bundle)):
        try:
            job_arn = qs.start_asset_bundle_import_job(**request)["Arn"]
            logger.info("Import job started", extra={"job_id": job_id, "import_source": bundle.import_source})
        except qs.exceptions.ConflictException:
            job_arn = _describe(qs, account_id, bundle)["Arn"]
            logger.info("Import job already running: polling it", extra={"job_id": job_id})
    return ImportPoll.model_validate(
        {**first_poll(job_id=job_id, job_arn=job_arn, settings=settings), "settled": False}
    )


def check_import(
    qs: Any,
    s3: Any,
    *,
    restore: PlannedRestore,
    account_id: str,
    bundle: PlannedBundleRestore,
    job: ImportPoll,
    settings: Settings,
) -> ImportPoll:
    """Describe the import job once; record the item when it has settled; return the polling state.

    A job still running past the deadline (the same one as exports) raises
    ``BundleImportTimedOutError``, which the workflow records as the item's failure.
    """
    described = _describe(qs, account_id, bundle)
    status = described["JobStatus"]
    settled = status == SUCCESSFUL or status in _FAILED_FOR_GOOD
    bucket = settings.archive_bucket
    if status == SUCCESSFUL:
        prefix = bundle.override_parameters.get("ResourceIdOverrideConfiguration", {}).get("PrefixForAllResources")
        resources = bundle.resources or []
        record_restored(
            s3,
            bucket,
            restore=restore,
            item=bundle,
            kind="bundle",
            result=BundleImported(
                job_arn=job.job_arn,
                resources=resources,
                resource_id_prefix=prefix,
                warnings=described.get("Warnings", []),
            ),
        )
        logger.info("Bundle restored", extra={"job_id": job.job_id, "resources": len(resources)})
    elif status in _FAILED_FOR_GOOD:
        errors = [*described.get("Errors", []), *described.get("RollbackErrors", [])]
        record_failed(
            s3,
            bucket,
            restore=restore,
            item=bundle,
            kind="bundle",
            error="BundleImportFailed",
            message=f"{status}: {job_errors(errors, none='no errors reported')}",
            details=errors,
        )
        count_failure("bundle", "BundleImportFailed")
        logger.warning("Import job failed", extra={"job_id": job.job_id, "status": status, "errors": errors})
    polled = next_poll(
        job.wire(),
        status=status,
        running=not settled,
        settings=settings,
        timed_out=BundleImportTimedOutError,
        job_kind="import",
    )
    return ImportPoll.model_validate({**polled, "settled": settled})
