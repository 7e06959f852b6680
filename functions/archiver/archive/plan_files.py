"""The plan's items in the bucket: written by ValidateRun, read by the Distributed Maps and WriteManifest.

A plan of 10,000 sessions is megabytes of JSON, far past the 256 KiB a state may carry, so the run's
state holds only the run, counts and where the items are (``StagedRun``); each kind's items are one
JSON array (``layout.plan_items_key``), which that kind's Distributed Map reads with ``ItemReader``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from archiver.archive.models import (
    PlanFiles,
    PlannedApp,
    PlannedBundle,
    PlannedSession,
    QAppsPlan,
    QuickSightPlan,
    RunPlan,
    StagedQApps,
    StagedQuickSight,
    StagedRun,
)
from archiver.core import layout
from archiver.core.service_errors import naming_errors

KINDS = ("bundle", "session", "app")


def _put_items(s3: Any, bucket: str, key: str, items: list[dict[str, Any]]) -> None:
    body = json.dumps(items, separators=(",", ":")).encode()
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", ChecksumAlgorithm="SHA256")


def _get_items(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    with naming_errors("S3", resource=f"s3://{bucket}/{key}"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    items: list[dict[str, Any]] = json.loads(body)
    return items


def stage_plan(s3: Any, bucket: str, plan: RunPlan) -> StagedRun:
    """Write the plan's items to ``bucket``, one file per kind (an empty array for none), and return the run's state.

    Written again by an execution of the same run: the same plan makes the same files.
    """
    run_id = plan.run.run_id
    files = PlanFiles(bucket=bucket, **{f"{kind}s": layout.plan_items_key(run_id, kind) for kind in KINDS})
    lists = {
        files.bundles: [bundle.wire() for bundle in plan.quicksight.bundles],
        files.sessions: [session.wire() for session in plan.qapps.sessions],
        files.apps: [app.wire() for app in plan.qapps.apps],
    }
    with ThreadPoolExecutor(max_workers=len(lists)) as pool:
        for written in [pool.submit(_put_items, s3, bucket, key, items) for key, items in lists.items()]:
            written.result()
    return StagedRun(
        run=plan.run,
        quicksight=StagedQuickSight(
            aws_account_id=plan.quicksight.aws_account_id,
            bundles=len(plan.quicksight.bundles),
            complete_types=plan.quicksight.complete_types,
            discover=plan.quicksight.discover,
        ),
        qapps=StagedQApps(
            instance_id=plan.qapps.instance_id,
            sessions=len(plan.qapps.sessions),
            apps=len(plan.qapps.apps),
            discover_apps=plan.qapps.discover_apps,
        ),
        items=files,
    )


def read_plan(s3: Any, staged: StagedRun) -> RunPlan:
    """The whole plan of a staged run, its items read back from their files (concurrently)."""
    files = staged.items
    with ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
        bundles, sessions, apps = pool.map(
            lambda key: _get_items(s3, files.bucket, key), (files.bundles, files.sessions, files.apps)
        )
    return RunPlan(
        run=staged.run,
        quicksight=QuickSightPlan(
            aws_account_id=staged.quicksight.aws_account_id,
            bundles=[PlannedBundle.model_validate(bundle) for bundle in bundles],
            complete_types=staged.quicksight.complete_types,
            discover=staged.quicksight.discover,
        ),
        qapps=QAppsPlan(
            instance_id=staged.qapps.instance_id,
            sessions=[PlannedSession.model_validate(session) for session in sessions],
            apps=[PlannedApp.model_validate(app) for app in apps],
            discover_apps=staged.qapps.discover_apps,
        ),
        run_error=staged.run_error,
    )
