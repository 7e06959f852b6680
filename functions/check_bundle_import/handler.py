"""Poll a bundle's import job once, recording the item when it has settled; the Wait state sets the pace."""

from typing import Any

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.bundles import check_import


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
