"""Record why an item could not be restored, so the rest of the restore goes on."""

from typing import Any

from archiver import clients
from archiver.observability import step_handler
from archiver.restore_report import record_caught_failure
from archiver.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return record_caught_failure(
        clients.s3(),
        get_settings().archive_bucket,
        restore=event["restore"],
        item=event["item"],
        kind=event["kind"],
        step_error=event["error"],
    )
