"""Start a bundle's QuickSight import job from the archive (or find it already running)."""

from typing import Any

from archiver import clients
from archiver.observability import step_handler
from archiver.restore_bundles import start_import
from archiver.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return start_import(
        clients.quicksight(),
        clients.s3(),
        account_id=event["awsAccountId"],
        bundle=event["bundle"],
        settings=get_settings(),
    )
