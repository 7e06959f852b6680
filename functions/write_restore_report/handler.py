"""Write the restore's report (restores/{restore id}.json) and return its summary (the execution's output)."""

from typing import Any

from archiver.core import clients
from archiver.core.observability import logger, step_handler
from archiver.core.settings import get_settings
from archiver.core.wire import StepError
from archiver.restore.report import write_report


def _caught(error: dict[str, Any] | None) -> StepError | None:
    return None if error is None else StepError.model_validate(error)


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = event["plan"]
    # restoreError is present when a whole branch of the restore failed (see the workflow's Catch).
    summary = write_report(
        clients.s3(), get_settings().archive_bucket, plan, restore_error=_caught(plan.get("restoreError"))
    )
    logger.info("Restore report written", extra=summary)
    return summary
