"""Poll a bundle's export job once; the workflow's Wait state sets the pace."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive import bundles
from archiver.archive.models import BundleExportEvent
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=BundleExportEvent)
def lambda_handler(event: BundleExportEvent, context: Any) -> dict[str, Any]:
    return bundles.check_export(
        clients.quicksight(),
        clients.s3(),
        run=event.run,
        account_id=event.aws_account_id,
        bundle=event.bundle,
        export=event.export,
        settings=get_settings(),
    ).wire()
