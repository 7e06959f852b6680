"""Start a bundle's QuickSight import job from the archive (or find it already running)."""

from typing import Any

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.bundles import start_import


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return start_import(
        clients.quicksight(),
        clients.s3(),
        account_id=event["awsAccountId"],
        bundle=event["bundle"],
        settings=get_settings(),
    )
