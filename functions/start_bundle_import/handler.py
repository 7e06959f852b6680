"""Start a bundle's QuickSight import job from the archive (or find it already running)."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser

from archiver.core import clients
from archiver.core.observability import step_handler
from archiver.core.settings import get_settings
from archiver.restore.bundles import start_import
from archiver.restore.models import BundleRestoreEvent


@step_handler
@event_parser(model=BundleRestoreEvent)
def lambda_handler(event: BundleRestoreEvent, context: Any) -> dict[str, Any]:
    return start_import(
        clients.quicksight(),
        clients.s3(),
        account_id=event.aws_account_id,
        bundle=event.bundle,
        settings=get_settings(),
    ).wire()
