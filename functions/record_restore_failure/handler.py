"""Record why an item could not be restored, so the rest of the restore goes on."""

from typing import Any

from archiver import clients
from archiver.observability import count_failure, logger, step_handler
from archiver.outcomes import describe_step_error
from archiver.restore_report import record_failed
from archiver.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    item = event["item"]
    error, message = describe_step_error(event["error"])
    record_failed(
        clients.s3(),
        get_settings().archive_bucket,
        restore=event["restore"],
        item=item,
        kind=event["kind"],
        error=error,
        message=message,
    )
    count_failure(event["kind"], error)
    logger.warning("Restore item failed", extra={"item_id": item["itemId"], "error": error, "reason": message})
    return {"itemId": item["itemId"], "error": error}
