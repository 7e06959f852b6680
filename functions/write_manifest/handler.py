"""Write the run's manifest and return its summary (the execution's output)."""

from typing import Any

from archiver.archive.manifest import ItemPlace, write_manifest
from archiver.core import clients
from archiver.core.observability import logger, step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = event["plan"]
    # runError is present when a whole branch of the run failed (see the workflow's Catch).
    place = ItemPlace.of(account_id=plan["quicksight"]["awsAccountId"], instance_id=plan["qapps"]["instanceId"])
    summary = write_manifest(
        clients.s3(), get_settings().archive_bucket, plan, place=place, run_error=plan.get("runError")
    )
    logger.info("Manifest written", extra=summary)
    return summary
