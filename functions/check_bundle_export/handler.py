"""Poll a bundle's export job once; the workflow's Wait state sets the pace."""

from typing import Any

from archiver.archive import bundles
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


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
