"""Start a bundle's QuickSight export job (or find it already running, or the bundle already archived by this run)."""

from typing import Any

from archiver.archive import bundles
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bundles.start_export(
        clients.quicksight(),
        clients.s3(),
        run=event["run"],
        account_id=event["awsAccountId"],
        bundle=event["bundle"],
        settings=get_settings(),
    )
