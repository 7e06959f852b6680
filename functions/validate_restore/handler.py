"""Restore step 1: check the request against the archive and its targets, and plan the restore."""

from typing import Any

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.plan import plan_restore
from archiver.restore.request import RestoreContext


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    execution = event["execution"]
    restore = RestoreContext(
        restore_id=execution["name"], execution_id=execution["id"], started_at=execution["startTime"]
    )
    settings = get_settings()
    return plan_restore(
        event["input"],
        restore,
        s3=clients.s3(),
        qapps=clients.qapps(),
        bucket=settings.archive_bucket,
        default_account=settings.default_account_id,
    )
