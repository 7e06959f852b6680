"""Write the restore's report (restores/{restore id}.json) and return its summary (the execution's output)."""

from typing import Any

from archiver import clients
from archiver.observability import logger, step_handler
from archiver.restore_report import write_report
from archiver.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = event["plan"]
    # restoreError is present when a whole branch of the restore failed (see the workflow's Catch).
    summary = write_report(clients.s3(), get_settings().archive_bucket, plan, restore_error=plan.get("restoreError"))
    logger.info("Restore report written", extra=summary)
    return summary
