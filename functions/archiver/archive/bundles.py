"""QuickSight bundle exports: start a job, poll it, copy its bundle into the archive."""

from __future__ import annotations

from typing import Any

from archiver.archive.artifacts import keep_download, link_in_hand_then_fresh, previously_kept, unchanged
from archiver.archive.changes import Subjects, fingerprinted, holds_unchanged
from archiver.archive.manifest import ItemPlace, bundle_source, item_named, record_failed, with_dependencies
from archiver.archive.models import (
    ArchivedOutcome,
    BundleSource,
    ExportPoll,
    PlannedBundle,
    RunContext,
    UnchangedOutcome,
)
from archiver.core import layout
from archiver.core.errors import BundleExportNotReadyError, BundleExportTimedOutError, ResourceConflictError
from archiver.core.job_polls import first_poll, job_errors, next_poll
from archiver.core.observability import count_failure, export_ready_at, logger
from archiver.core.service_errors import naming_errors
from archiver.core.settings import Settings

SUCCESSFUL = "SUCCESSFUL"
FAILED = "FAILED"
# Not a QuickSight status: the run already holds this bundle, so no job is started nor polled.
ALREADY_ARCHIVED = "ALREADY_ARCHIVED"
# Not a QuickSight status either: onlyChanged found every asset as its last archived copy holds it.
UNCHANGED = "UNCHANGED"
_CONTENT_TYPE = {"QUICKSIGHT_JSON": "application/zip", "CLOUDFORMATION_JSON": "application/json"}
_ARNS_NAMED = 3


def _named(bundle: PlannedBundle) -> str:
    """The bundle as an error message names it: its name, job and (the first of) its resources."""
    arns = bundle.resource_arns
    more = f" and {len(arns) - _ARNS_NAMED} more" if len(arns) > _ARNS_NAMED else ""
    return f"bundle {bundle.name} (export job {bundle.job_id}; {', '.join(arns[:_ARNS_NAMED])}{more})"


def _describe(qs: Any, account_id: str, bundle: PlannedBundle) -> dict[str, Any]:
    with naming_errors("QuickSight", resource=_named(bundle)):
        job: dict[str, Any] = qs.describe_asset_bundle_export_job(
            AwsAccountId=account_id, AssetBundleExportJobId=bundle.job_id
        )
    return job


def _export_request(bundle: PlannedBundle) -> dict[str, Any]:
    """What a bundle's export job is asked for: its resources and options, as QuickSight names them."""
    return {
        "ResourceArns": bundle.resource_arns,
        "IncludeAllDependencies": bundle.include_all_dependencies,
        "ExportFormat": bundle.export_format,
        "IncludePermissions": bundle.include_permissions,
        "IncludeTags": bundle.include_tags,
        "ValidationStrategy": {"StrictModeForAllResources": bundle.strict_validation},
    }


def _differences(job: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """How a described job differs from what this bundle asks for (resources in any order)."""
    wanted = {**request, "ResourceArns": sorted(request["ResourceArns"])}
    found = {field: job.get(field) for field in wanted}
    found["ResourceArns"] = sorted(found["ResourceArns"] or [])
    return [f"{field} {found[field]!r}" for field in wanted if found[field] != wanted[field]]


def _running_job_of(qs: Any, account_id: str, bundle: PlannedBundle) -> dict[str, Any]:
    """The job a ``ConflictException`` refers to, if it is this bundle's own export.

    A job id comes from the run and the bundle, so a job with that id, the same resources and
    the same options is this very export, started by an earlier attempt of this step: poll it
    rather than start another. Any other job with that id is a real conflict, and fails the item:
    adopting it would archive an export this bundle did not ask for as this bundle's.
    """
    job = _describe(qs, account_id, bundle)
    differences = _differences(job, _export_request(bundle))
    if not differences:
        return job
    raise ResourceConflictError(
        f"QuickSight StartAssetBundleExportJob for {_named(bundle)} failed (ConflictException): export job "
        f"{bundle.job_id} is {job['JobStatus']} for other resources or options ({'; '.join(differences)}); "
        "archive this bundle in a run with another id"
    )


def _archive_key(run: RunContext, account_id: str, bundle: PlannedBundle) -> str:
    return layout.bundle_key(
        account_id=account_id,
        bundle_name=bundle.name,
        run_date=run.run_date,
        job_id=bundle.job_id,
        export_format=bundle.export_format,
    )


def start_export(
    qs: Any, s3: Any, *, run: RunContext, account_id: str, bundle: PlannedBundle, settings: Settings
) -> ExportPoll:
    """Start the bundle's export job and return the polling state for the workflow.

    The job id comes from the run, so a retried start finds the job already running
    (``ConflictException``) and carries on polling that same job instead of starting another.
    A run executed again starts nothing for a bundle it already archived intact: status
    ``ALREADY_ARCHIVED`` ends the item without asking QuickSight (an export job would take one
    of the account's five slots, and its new bundle could only repeat, or conflict with, the one kept).
    With ``onlyChanged``, a bundle whose assets' fingerprints, request and dependencies are those its last
    archived copy was exported with starts nothing either: status ``UNCHANGED``, the outcome points at that copy.
    """
    job_id = bundle.job_id
    kept = previously_kept(s3, settings, run=run, item=bundle, key=_archive_key(run, account_id, bundle))
    if kept is not None and isinstance(kept.source, BundleSource):  # a bundle's outcome has a bundle's source
        return ExportPoll(job_id=job_id, job_arn=kept.source.job_arn, status=ALREADY_ARCHIVED)
    subjects = Subjects(run=run, item=bundle, account_id=account_id)
    if fingerprinted(bundle) and (last := subjects.last_copy(s3, settings)) and holds_unchanged(last, bundle):
        job_arn = ItemPlace.of(account_id=account_id, instance_id=None).export_job_arn(job_id)
        unchanged(
            s3,
            settings,
            subjects=subjects,
            held=last,
            because="fingerprints",
            source=BundleSource(job_id=job_id, job_arn=job_arn, resource_arns=bundle.resource_arns),
        )
        return ExportPoll(job_id=job_id, job_arn=job_arn, status=UNCHANGED)
    with naming_errors("QuickSight", resource=_named(bundle)):
        try:
            started = qs.start_asset_bundle_export_job(
                AwsAccountId=account_id,
                AssetBundleExportJobId=job_id,
                **_export_request(bundle),
            )
        except qs.exceptions.ConflictException:
            job_arn = _running_job_of(qs, account_id, bundle)["Arn"]
            logger.info("Export job already running: polling it", extra={"job_id": job_id})
        else:
            job_arn = started["Arn"]
            logger.info("Export job started", extra={"job_id": job_id, "bundle": bundle.name})
    return ExportPoll.model_validate(first_poll(job_id=job_id, job_arn=job_arn, settings=settings))


def check_export(
    qs: Any,
    s3: Any,
    *,
    run: RunContext,
    account_id: str,
    bundle: PlannedBundle,
    export: ExportPoll,
    settings: Settings,
) -> ExportPoll:
    """Describe the job once; return the updated polling state.

    A job that ended ``FAILED`` is recorded here, with QuickSight's ``Errors``, and the item
    ends; a job still running past the deadline raises ``BundleExportTimedOutError``.
    """
    job = _describe(qs, account_id, bundle)
    status = job["JobStatus"]
    if status == FAILED:
        errors = job.get("Errors", [])
        record_failed(
            s3,
            settings.archive_bucket,
            run=run,
            item_id=bundle.item_id,
            kind="bundle",
            error="BundleExportFailed",
            message=f"{item_named(bundle, instance_id=None)}: the export job FAILED: "
            + job_errors(errors, none="QuickSight gave no errors"),
            details=errors,
            source=bundle_source(bundle, job_arn=export.job_arn),
        )
        count_failure("bundle", "BundleExportFailed")
        logger.warning("Export job failed", extra={"job_id": export.job_id, "errors": errors})
    polled = next_poll(
        export.wire(),
        status=status,
        running=status not in (SUCCESSFUL, FAILED),
        settings=settings,
        timed_out=BundleExportTimedOutError,
        job_kind="export",
    )
    return ExportPoll.model_validate(
        {**polled, "readyAt": export_ready_at(export.ready_at, ready=status == SUCCESSFUL)}
    )


def archive_bundle(
    qs: Any,
    s3: Any,
    *,
    run: RunContext,
    account_id: str,
    bundle: PlannedBundle,
    export: ExportPoll,
    settings: Settings,
) -> ArchivedOutcome | UnchangedOutcome:
    """Copy a successful job's bundle into the archive, then record it (unchanged: the bytes of its last copy).

    The job is described again here, in the same step as the copy, so the five-minute link
    is fresh and never leaves this function.
    """
    key = _archive_key(run, account_id, bundle)
    if kept := previously_kept(s3, settings, run=run, item=bundle, key=key):
        return kept
    job = _describe(qs, account_id, bundle)
    if job["JobStatus"] != SUCCESSFUL:
        raise BundleExportNotReadyError(f"export job {export.job_id} is {job['JobStatus']}, not {SUCCESSFUL}")
    return keep_download(
        s3,
        settings,
        subjects=Subjects(run=run, item=bundle, account_id=account_id),
        kind="bundle",
        key=key,
        content_type=_CONTENT_TYPE[bundle.export_format],
        fetch_link=link_in_hand_then_fresh(
            job["DownloadUrl"], lambda: _describe(qs, account_id, bundle)["DownloadUrl"]
        ),
        export_ready_at=lambda: export.ready_at,
        source=with_dependencies(
            BundleSource(job_arn=job["Arn"], resource_arns=bundle.resource_arns, export_format=bundle.export_format),
            bundle,
        ),
        warnings=job.get("Warnings", []),
    )
