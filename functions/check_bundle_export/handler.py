"""Poll a bundle's export job once; the workflow's Wait state sets the pace."""

from typing import Any

from archiver import bundles, clients
from archiver.observability import step_handler
from archiver.settings import get_settings


@step_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return bundles.check_export(
        clients.quicksight(),
        clients.s3(),
        run=event["run"],
        account_id=event["awsAccountId"],
        bundle=event["bundle"],
        export=event["export"],
        settings=get_settings(),
    )
