"""Write the run's manifest and return its summary (the execution's output)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive.manifest import ItemPlace, discovery_of, write_manifest
from archiver.archive.models import WriteManifestEvent
from archiver.archive.plan_files import read_plan
from archiver.core import clients
from archiver.core.observability import logger, step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=WriteManifestEvent)
def lambda_handler(event: WriteManifestEvent, context: Any) -> dict[str, Any]:
    s3 = clients.s3()
    plan = read_plan(s3, event.plan)
    place = ItemPlace.of(account_id=plan.quicksight.aws_account_id, instance_id=plan.qapps.instance_id)
    bucket = get_settings().archive_bucket
    discovery = discovery_of(s3, bucket, event.plan)
    summary = write_manifest(s3, bucket, plan, place=place, discovery=discovery).wire()
    logger.info("Manifest written", extra=summary)
    return summary
