"""Record why an item could not be archived, so the rest of the run goes on."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive.manifest import ItemPlace, record_caught_failure
from archiver.archive.models import ItemFailureEvent
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=ItemFailureEvent)
def lambda_handler(event: ItemFailureEvent, context: Any) -> dict[str, Any]:
    return record_caught_failure(
        clients.s3(),
        get_settings().archive_bucket,
        run=event.run,
        item=event.item,
        kind=event.kind,
        step_error=event.error,
        # Where the item lives: a bundle's branch carries its account, a Q Apps branch its instance.
        place=ItemPlace.of(account_id=event.aws_account_id, instance_id=event.instance_id),
    ).wire()
