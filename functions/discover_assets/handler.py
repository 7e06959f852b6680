"""Step 2 of a run that discovers: find the account's assets and the instance's apps, add them to the plan's items."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive.models import DiscoverEvent
from archiver.archive.plan_files import read_plan, stage_plan
from archiver.core import clients, layout
from archiver.core.documents import put_document
from archiver.core.observability import logger, step_handler
from archiver.core.settings import get_settings
from archiver.discovery.estate import discover_run
from archiver.discovery.pacing import Pacer, lambda_time


@step_handler
@event_parser(model=DiscoverEvent)
def lambda_handler(event: DiscoverEvent, context: Any) -> dict[str, Any]:
    s3, bucket = clients.s3(), get_settings().archive_bucket
    plan, outcome = discover_run(
        read_plan(s3, event.plan), quicksight=clients.quicksight, qapps=clients.qapps, pacer=Pacer(lambda_time(context))
    )
    # What was found is recorded before the items are: the manifest finds it whatever happens next.
    put_document(s3, bucket, layout.discovery_key(plan.run.run_id), outcome.wire())
    logger.info("Estate discovered", extra=outcome.counts.wire() | {"unsupported": len(outcome.unsupported)})
    # The plan's files are written again, the discovered items after those the input lists; the state keeps counts.
    return stage_plan(s3, bucket, plan).wire()
