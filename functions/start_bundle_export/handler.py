"""Start a bundle's QuickSight export job (or find it already running, or the bundle already archived by this run)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.archive import bundles
from archiver.archive.models import BundleEvent
from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings


@step_handler
@event_parser(model=BundleEvent)
def lambda_handler(event: BundleEvent, context: Any) -> dict[str, Any]:
    return bundles.start_export(
        clients.quicksight(),
        clients.s3(),
        run=event.run,
        account_id=event.aws_account_id,
        bundle=event.bundle,
        settings=get_settings(),
    ).wire()
