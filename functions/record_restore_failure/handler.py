"""Record why an item could not be restored, so the rest of the restore goes on."""

from typing import Any

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.core.wire import StepError
from archiver.restore.report import record_caught_failure


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return record_caught_failure(
        clients.s3(),
        get_settings().archive_bucket,
        restore=event["restore"],
        item=event["item"],
        kind=event["kind"],
        step_error=StepError.model_validate(event["error"]),
    )
