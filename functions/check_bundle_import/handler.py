"""Poll a bundle's import job once, recording the item when it has settled; the Wait state sets the pace."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.bundles import check_import
from archiver.restore.models import BundleImportEvent


@step_handler
@event_parser(model=BundleImportEvent)
def lambda_handler(event: BundleImportEvent, context: Any) -> dict[str, Any]:
    return check_import(
        clients.quicksight(),
        clients.s3(),
        restore=event.restore,
        account_id=event.aws_account_id,
        bundle=event.bundle,
        job=event.job,
        settings=get_settings(),
    ).wire()
