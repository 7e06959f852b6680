"""Record why an item could not be archived, so the rest of the run goes on."""

from typing import Any

from archiver.archive.manifest import ItemPlace, record_caught_failure
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return record_caught_failure(
        clients.s3(),
        get_settings().archive_bucket,
        run=event["run"],
        item=event["item"],
        kind=event["kind"],
        step_error=event["error"],
        # Where the item lives: a bundle's branch carries its account, a Q Apps branch its instance.
        place=ItemPlace.of(account_id=event.get("awsAccountId"), instance_id=event.get("instanceId")),
    )
