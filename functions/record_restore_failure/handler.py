"""Record why an item could not be restored, so the rest of the restore goes on."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.models import RestoreFailureEvent
from archiver.restore.report import record_caught_failure


@step_handler
@event_parser(model=RestoreFailureEvent)
def lambda_handler(event: RestoreFailureEvent, context: Any) -> dict[str, Any]:
    return record_caught_failure(
        clients.s3(),
        get_settings().archive_bucket,
        restore=event.restore,
        item=event.item,
        kind=event.kind,
        step_error=event.error,
    ).wire()
