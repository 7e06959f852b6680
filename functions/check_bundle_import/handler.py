"""Poll a bundle's import job once, recording the item when it has settled; the Wait state sets the pace."""

from typing import Any

from archiver import clients
from archiver.observability import step_handler
from archiver.restore_bundles import check_import
from archiver.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return check_import(
        clients.quicksight(),
        clients.s3(),
        restore=event["restore"],
        account_id=event["awsAccountId"],
        bundle=event["bundle"],
        job=event["import"],
        settings=get_settings(),
    )
