"""Write the restore's report (restores/{restore id}.json) and return its summary (the execution's output)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.core import clients
from archiver.core.observability import logger, step_handler
from archiver.core.settings import get_settings
from archiver.restore.models import WriteRestoreReportEvent
from archiver.restore.report import write_report


@step_handler
@event_parser(model=WriteRestoreReportEvent)
def lambda_handler(event: WriteRestoreReportEvent, context: Any) -> dict[str, Any]:
    # The plan's restoreError is present when a whole branch of the restore failed (see the workflow's Catch).
    summary = write_report(clients.s3(), get_settings().archive_bucket, event.plan).wire()
    logger.info("Restore report written", extra=summary)
    return summary
